#!/usr/bin/env bash
# promtool (from Debian's prometheus package) for tests/deploy/test_grafana.py, which runs
# `promtool check metrics` on a live /metrics scrape when it is installed (else it relies on
# prometheus-client's parser alone). The package's server is never started by the tests.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq >/dev/null
$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends prometheus >/dev/null
# Debian may start the server on install (port 9090); nothing here needs it running.
$SUDO service prometheus stop >/dev/null 2>&1 || true
