FROM jupyter/scipy-notebook:2023-10-20
USER root
RUN <<EOT
apt-get update
apt-get install -y graphviz
EOT
USER ${NB_USER}
COPY notebooks/ /home/jovyan/work/
RUN pip install mlflow==2.9.2 shap==0.44.0
