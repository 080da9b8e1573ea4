#!/usr/bin/env bash
# Makes sure Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432) answer, as every
# project machine runs them; installs Debian's packages and starts them where absent.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  as_root apt-get update -qq && as_root apt-get install -y -qq redis-server
fi
if ! redis_up; then
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 50); do redis_up && break; sleep 0.2; done
fi
redis_up || { echo "redis does not answer on 127.0.0.1:6379" >&2; exit 1; }

if ! command -v pg_isready >/dev/null || [ ! -d /etc/postgresql ]; then
  as_root apt-get update -qq && as_root apt-get install -y -qq postgresql
fi
if ! pg_up; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 50); do pg_up && break; sleep 0.2; done
fi
pg_up || { echo "postgresql does not answer on 127.0.0.1:5432" >&2; exit 1; }
echo "services: redis and postgresql answer"
