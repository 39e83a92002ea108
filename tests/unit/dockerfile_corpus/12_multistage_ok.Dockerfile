# Already good: builder stage, cache mounts, slim runtime.
FROM python:3.11-slim AS build
RUN rm -f /etc/apt/apt.conf.d/docker-clean
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=cache,target=/var/lib/apt,sharing=locked \
    apt-get update && apt-get install -y --no-install-recommends build-essential
COPY requirements.txt .
RUN --mount=type=cache,target=/root/.cache/pip pip wheel -w /wheels -r requirements.txt

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN --mount=type=cache,target=/root/.cache/pip pip install /wheels/*
COPY src/ /app/src/
CMD ["python", "-m", "app.src"]
