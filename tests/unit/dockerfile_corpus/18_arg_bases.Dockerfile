# Bases from build arguments: pinned by the default, or unknown until build time.
ARG BASE=python:3.11-slim
FROM ${BASE}
RUN echo
ARG IMG
FROM ${IMG}
FROM python:${PYV}
