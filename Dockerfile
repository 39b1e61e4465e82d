# The Pronto worker: every agent, the web server (ingest, console) and /metrics on port 6066.
#   docker build -t pronto . && docker run -e PRONTO_BROKER=kafka://host:9092 -p 6066:6066 pronto
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data pronto \
    && mkdir -p /data \
    && chown pronto /data

# The package is installed into site-packages, so point it at the venues file and deploy/ here.
# glibc's allocator as `pronto worker` sets it for its processes (see pipeline/worker.py), also
# for the stages run apart (`--stages`, the Compose `stages` profile).
ENV PRONTO_HOME=/data \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    PRONTO_WEB_HOST=0.0.0.0 \
    PRONTO_WEB_PORT=6066 \
    PRONTO_DEPLOY_DIR=/app/deploy \
    PRONTO_CONFIG=/app/deploy/pronto.demo.toml

USER pronto
VOLUME ["/data"]
EXPOSE 6066
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PRONTO_WEB_PORT', '6066'), timeout=4)"]
CMD ["pronto", "worker"]
