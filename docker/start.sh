#!/bin/sh
# Container entry point: apply migrations once, then serve.
# PORT and WEB_CONCURRENCY follow the usual platform conventions. More than one worker
# needs DATABASE_URL and REDIS_URL (the embedded SQLite mode refuses it).
set -eu

qoach migrate

exec qoach serve \
  --host 0.0.0.0 \
  --port "${PORT:-8000}" \
  --workers "${WEB_CONCURRENCY:-1}" \
  --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}" \
  "$@"
