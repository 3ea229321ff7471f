#!/usr/bin/env bash
# nginx for the TLS/API-key tests: the fixture starts its own nginx (own prefix, config and pid
# file under the test's tmp dir) as a gRPC TLS front to the Temporal dev server.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq nginx >/dev/null
# Debian starts a default site on port 80 on install; the tests never use it.
$SUDO service nginx stop >/dev/null 2>&1 || $SUDO /usr/sbin/nginx -s stop >/dev/null 2>&1 || true
