# tuner worker / dashboard image: CPU PyTorch, the package, the study configs.
FROM python:3.11-slim
WORKDIR /app
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md LICENSE ./
COPY tuner ./tuner
RUN pip install --no-cache-dir '.[postgres]'
COPY studies ./studies
RUN useradd --create-home tuner && mkdir /app/artifacts && chown tuner /app/artifacts
USER tuner
ENTRYPOINT ["tuner"]
