# apt lists live in a cache mount: hadolint still wants them deleted (hadolint#723).
FROM debian:bookworm-slim
RUN rm -f /etc/apt/apt.conf.d/docker-clean
RUN --mount=type=cache,target=/var/lib/apt,sharing=locked \
    apt-get update && apt-get install -y --no-install-recommends python3 python3-pip
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip pip3 install --break-system-packages -r /tmp/requirements.txt
COPY . /app
CMD ["python3", "/app/main.py"]
