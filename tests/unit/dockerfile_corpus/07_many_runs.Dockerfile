FROM ubuntu:22.04
RUN apt-get update
RUN apt-get install -y python3-pip
RUN pip3 install torch torchvision
RUN mkdir -p /models
COPY model.pt /models/
COPY . /code
CMD ["python3", "/code/infer.py"]
