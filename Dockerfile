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

# `linli backup` needs pg_dump of the server's major version or newer: PostgreSQL's own client 16
# (Debian bookworm ships 15, which refuses to dump docker-compose.yml's postgres:16)
ARG PG_CLIENT_VERSION=16
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && install -d /usr/share/postgresql-common/pgdg \
    && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-client-${PG_CLIENT_VERSION}" \
    && apt-get purge -y curl && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY api ./api
COPY workers ./workers
RUN pip install . && useradd --system --uid 10001 --home-dir /app linli && mkdir -p /app/var/media /backups && chown -R linli /app/var /backups

USER linli
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["linli", "serve", "--host", "0.0.0.0", "--port", "8000"]
