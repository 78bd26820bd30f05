# One image for both processes:
#   API:    the default CMD: `linli serve`, LINLI_WEB_CONCURRENCY server processes (2: one per core of
#           the usual small VM; set it for another size)
#   worker: docker run … linli worker
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LINLI_ENVIRONMENT=production \
    LINLI_WEB_CONCURRENCY=2

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY api ./api
COPY workers ./workers
RUN pip install . && useradd --system --uid 10001 --home-dir /app linli && mkdir -p /app/var/media && chown -R linli /app/var

USER linli
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["linli", "serve", "--host", "0.0.0.0", "--port", "8000"]
