# syntax=docker/dockerfile:1
#
# Leadline production image.
#
#   docker build -t leadline:latest .
#   docker run --env-file deploy/.env -p 8000:8000 leadline:latest
#
# Migrations are a separate, one-shot command (never run them from every web
# replica at start-up: N pods would race on the same schema):
#
#   docker run --rm --env-file deploy/.env leadline:latest python manage.py migrate --noinput
#
# Three stages: the web stage builds the SPA bundle (frontend/dist); the builder
# has the compilers and headers that mysqlclient needs and turns requirements.txt
# into wheels; the runtime stage installs only those wheels
# plus the MariaDB client library, so no compiler ships in the image.

# The web app (frontend/): built with Node, only its dist/ reaches the Python image.
FROM node:20.20.2-bookworm-slim AS web

WORKDIR /web
COPY frontend/package.json frontend/package-lock.json frontend/.npmrc ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build


FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Debian replaces package versions in place with each security update, so pinning
# exact apt versions would break the build on the next point release; the base
# image tag is what fixes the distribution.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libmariadb-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY requirements.txt /wheels/requirements.txt
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r /wheels/requirements.txt


FROM python:3.11-slim AS runtime

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/app/media

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# libmariadb3: the shared library mysqlclient links against.
# mariadb-client: mariadb-dump / mariadb for `manage.py backup` and `restore`.
# (Same reason as above for not pinning apt versions.)
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 mariadb-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 leadline \
    && useradd --system --uid 10001 --gid leadline --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin leadline

# The wheels are bind-mounted from the builder, not copied, so they add no layer.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels -r /wheels/requirements.txt

WORKDIR /app
COPY . /app
COPY --from=web /web/dist /app/frontend/dist

# Static files are collected (hashed + precompressed by whitenoise) at build time so
# every replica serves identical files. Settings refuse to load without secrets in
# production mode; the dummy values below exist only for this RUN and are not baked
# into the image's environment. Byte-compiling here (the code is read-only at run
# time) saves every worker the compile step at boot.
RUN DJANGO_SECRET_KEY=build-only-collectstatic-key-not-a-secret-0123456789abcdef \
    JWT_SIGNING_KEY=build-only-collectstatic-jwt-not-a-secret-0123456789abcdef \
    python manage.py collectstatic --noinput \
    && python -m compileall -q /app \
    && mkdir -p /app/media /app/backups /run/prometheus \
    && chown leadline:leadline /app/media /app/backups /run/prometheus

# Several gunicorn workers share one /metrics view only through this directory
# (prometheus_client multi-process mode); config/gunicorn.conf.py empties it at start.
ENV PROMETHEUS_MULTIPROC_DIR=/run/prometheus

# Numeric UID so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000

# urllib instead of curl: the slim image has no curl and python is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
