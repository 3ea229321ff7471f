#!/usr/bin/env bash
# Debian's Chromium for the console's browser tests (Playwright drives it through
# executable_path=/usr/bin/chromium; `playwright install` is never run). Safe to re-run.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq >/dev/null
$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq chromium >/dev/null
