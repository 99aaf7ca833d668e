# Afficone: one image for web (gunicorn), the Celery worker and Celery beat.
# The `proxy` target is nginx with the collected static files baked in (see docker-compose.yml).

FROM python:3.11-slim AS app
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Runtime dependencies only (requirements-prod.lock pins the same versions as requirements.lock, without the test tools).
COPY requirements-prod.lock ./
RUN pip install -r requirements-prod.lock

RUN groupadd --system --gid 10001 afficone \
 && useradd --system --uid 10001 --gid afficone --home-dir /app --shell /usr/sbin/nologin afficone \
 && mkdir -p /srv/media /srv/beat \
 && chown afficone:afficone /srv/media /srv/beat

COPY --chown=afficone:afficone . .

# Static files are collected at build time, with hashed names and gzip/brotli copies (whitenoise's manifest storage).
# The secrets here exist only for this one build step, so that the production settings load.
RUN DEBUG=false SECRET_KEY=collectstatic-build-only STRIPE_SECRET_KEY=unused STRIPE_WEBHOOK_SECRET=unused \
    python manage.py collectstatic --noinput -v0

USER afficone
ENV DEBUG=false MEDIA_ROOT=/srv/media
EXPOSE 8000
CMD ["gunicorn", "afficone.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--forwarded-allow-ips", "*"]


# nginx in front (config: deploy/nginx.conf, mounted by docker-compose.yml): /t.js and /static/ from the files
# collected above, /media/ from the shared volume, the rest to web.
FROM nginx:1.27-alpine AS proxy
COPY --from=app /app/staticfiles /srv/static
