FROM python:3.10
RUN apt-get update && apt-get install -y libgomp1 git
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY src/ /app/src/
CMD ["python", "-m", "src.serve"]
