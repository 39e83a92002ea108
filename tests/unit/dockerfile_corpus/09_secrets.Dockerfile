FROM python:3.11-slim
ENV WANDB_API_KEY=3f1c0ffee0000000000000000000000000000000
ARG HF_TOKEN=hf_exampleexampleexample
COPY .env /app/.env
COPY kaggle.json /root/.kaggle/kaggle.json
COPY requirements.txt /app/
RUN pip install --no-cache-dir -r /app/requirements.txt
COPY . /app
CMD ["python", "/app/fetch_and_train.py"]
