# Typical training image: the whole repo is copied before requirements are installed.
FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install -r requirements.txt
CMD ["python", "train.py"]
