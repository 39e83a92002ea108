ARG PY=3.10
FROM python:${PY}-slim AS deps
ENV PIP_NO_CACHE_DIR=1
COPY requirements.txt .
RUN pip install -r requirements.txt
RUN apt-get update && apt-get install -y --no-install-recommends curl

FROM deps AS runtime
RUN pip install gunicorn
COPY app/ /app/
CMD ["gunicorn", "app.wsgi"]
