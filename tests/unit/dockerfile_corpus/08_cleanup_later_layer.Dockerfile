FROM python:3.9
COPY . /opt/app
WORKDIR /opt/app
RUN apt-get update && apt-get install -y --no-install-recommends build-essential
RUN pip install -r requirements.txt
RUN rm -rf /var/lib/apt/lists/* /root/.cache/pip
CMD ["python", "app.py"]
