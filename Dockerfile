# Production image: one process per container (`serve` or `worker`), non-root, with a healthcheck.
#   docker build -t conversation-service .
#   docker run -e DATABASE_URL=postgresql://... -e REDIS_URL=redis://... -p 8000:8000 conversation-service
# Migrations run once per release, before the new replicas start: `... conversation-service migrate`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /data --create-home app

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY conversation_service ./conversation_service
COPY migrations ./migrations
# Editable so that `migrate` finds migrations/ beside the package (see README, "Running in production").
RUN pip install -e . && python -c "import conversation_service.web.app"

USER app
# The embedded SQLite default (no DATABASE_URL) writes ./conversations.db: keep it in /data.
WORKDIR /data
ENV HOST=0.0.0.0 \
    PORT=8000 \
    LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"
ENTRYPOINT ["conversation-service"]
CMD ["serve"]
