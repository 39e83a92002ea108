FROM python:3.11-alpine
RUN apk add --update gcc musl-dev linux-headers
ADD requirements.txt /app/requirements.txt
ADD https://example.com/weights.tar.gz /models/
RUN pip install -r /app/requirements.txt
ADD . /app
CMD ["python", "/app/main.py"]
