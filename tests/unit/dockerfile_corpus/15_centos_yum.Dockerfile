FROM rockylinux:9
RUN yum install -y python3 python3-pip
RUN dnf install -y gcc
COPY . /srv
RUN pip3 install -r /srv/requirements.txt
CMD ["python3", "/srv/app.py"]
