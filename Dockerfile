FROM python:3.11-slim
WORKDIR /srv
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md celeryconfig.py celery_commands.py cpu_affinity.py flowerconfig.py gunicorn_conf.py ./
COPY app ./app
COPY tasks ./tasks
COPY telemetry ./telemetry
COPY history ./history
COPY sandbox ./sandbox
COPY mappings ./mappings
RUN pip install . && useradd --create-home connector && mkdir -p .run/metrics .sandbox && chown -R connector .run .sandbox
USER connector
