FROM node:20-bullseye AS ui
WORKDIR /ui
COPY . .
RUN yarn install
RUN yarn build

FROM python:3.11-slim
COPY --from=ui /ui/dist /app/static
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . /app
