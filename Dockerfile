# The portal's image: web server, Celery worker and beat all run from it.
# Debian's own python3 is used (not a python:* image) so that the interpreter the
# sandbox binds read-only into each run is a plain system package.
FROM debian:bookworm-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PORTAL_VAR_DIR=/app/var \
    PORTAL_DATA_DIR=/data \
    PORTAL_CACHE_DIR=/cache

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv git bubblewrap ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin portal

WORKDIR /app
COPY requirements.txt .
RUN python3 -m venv /opt/venv && pip install --no-cache-dir --require-hashes -r requirements.txt

COPY . .
# /data has one owner, the `portal` user, and nobody else may enter it (root writes there as
# that owner). /cache is the worker's own (runtimes, fetched packages and commits).
RUN DEBUG=false python manage.py collectstatic --no-input \
 && mkdir -p /data /cache && chown portal:portal /data /app/var && chmod 0700 /data

# The web server runs unprivileged; the worker service overrides this (see docker-compose.yml).
USER portal
EXPOSE 8000
CMD ["python", "-m", "portal.serve"]
