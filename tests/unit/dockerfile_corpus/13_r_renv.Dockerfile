FROM rocker/r-ver:4.3.2
RUN apt-get update && apt-get install -y libxml2-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /project
COPY . .
RUN R -e "install.packages('renv', repos='https://cloud.r-project.org')"
RUN R -e "renv::restore()"
CMD ["Rscript", "model.R"]
