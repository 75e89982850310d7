# syntax=docker/dockerfile:1
# Production image: `docker build -t qoach .` then `docker compose up` (see docker-compose.yml).
# Two stages: the builder resolves the locked dependencies with uv into /app/.venv and installs
# the project as a wheel (migrations included); the final stage copies only that venv.
ARG PYTHON_IMAGE=python:3.13-slim

FROM ${PYTHON_IMAGE} AS builder
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv
WORKDIR /src
# Dependencies first (cached until pyproject.toml / uv.lock change), then the project itself.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-project
COPY README.md ./
COPY src ./src
# No shared cache here: uv keys its built wheel of a local project on pyproject.toml only,
# so a cached wheel would hide changes under src/.
RUN uv sync --frozen --no-dev --no-editable --no-cache

FROM ${PYTHON_IMAGE}
# tzdata comes from the Python dependency (pyproject), so no apt packages are needed.
RUN groupadd --system --gid 10001 qoach \
 && useradd --system --uid 10001 --gid qoach --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin qoach \
 && mkdir -p /app/data \
 && chown qoach:qoach /app/data
COPY --from=builder /app/.venv /app/.venv
COPY --chmod=0755 docker/start.sh /app/docker/start.sh
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The working directory is the only writable place: the embedded default (no DATABASE_URL)
# keeps ./qoach.db here; mount a volume on /app/data to keep it.
WORKDIR /app/data
USER 10001:10001
EXPOSE 8000
# No curl in slim images: probe the liveness route with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/' % os.environ.get('PORT', '8000'), timeout=4)" || exit 1
CMD ["/app/docker/start.sh"]
