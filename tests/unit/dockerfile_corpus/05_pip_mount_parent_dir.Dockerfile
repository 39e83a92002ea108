# A pip cache mount on the parent folder: hadolint still asks for --no-cache-dir (hadolint#497).
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN --mount=type=cache,target=/root/.cache pip install -r requirements.txt
COPY . .
CMD ["python", "serve.py"]
