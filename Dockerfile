# syntax=docker/dockerfile:1
# The API's image, for docker-compose.yml or on its own:
#   docker build -t notes-api . && docker run -e DATABASE_URL=postgresql://... -p 127.0.0.1:5000:5000 notes-api
# Only the main dependency group goes in: no dev tools, no embedded PostgreSQL, so DATABASE_URL is
# required.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# Build stage: scripts/export_lock.py turns poetry.lock into hash-pinned requirements (Python
# alone, as `make install` does), pip installs them in /venv.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY pyproject.toml poetry.lock ./
COPY scripts/export_lock.py scripts/
RUN python scripts/export_lock.py main >requirements.txt \
    && python -m venv /venv \
    && /venv/bin/pip install --require-hashes --requirement requirements.txt

# Runtime stage: the virtualenv and the source; no build tools; an unprivileged user.
FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin notes
COPY --from=build /venv /venv
WORKDIR /app
COPY src/ src/
ENV PATH=/venv/bin:$PATH \
    PYTHONPATH=/app/src \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=5000
USER notes
EXPOSE 5000
# Slim images have no curl: Python asks /health (urlopen fails on anything but a 2xx).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/health', timeout=2)"]
CMD ["python", "src/main.py"]
