FROM continuumio/miniconda3:latest
WORKDIR /workspace
COPY environment.yml .
RUN conda env create -f environment.yml
COPY . .
ENTRYPOINT ["conda", "run", "-n", "ml", "python", "train.py"]
