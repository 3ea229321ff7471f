#!/usr/bin/env bash
# The local AWS Lambda runtime for the Lambda tests and bench/lambda_idle_exit.py:
# npm osls (the open-source Serverless Framework v3 fork) and serverless-offline@13, installed into
# .tools/node (git-ignored). serverless-offline runs the REAL Python handlers (with .venv first on
# PATH) behind a Lambda Invoke API on loopback. Safe to re-run; quiet when already installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=.tools/node
want_offline="13"
# The example service resolves its plugin from its own node_modules (a git-ignored link).
ln -sfn ../../.tools/node/node_modules examples/lambda/node_modules
if [ -x "$dir/node_modules/.bin/osls" ] \
  && grep -q "\"version\": \"$want_offline\." "$dir/node_modules/serverless-offline/package.json" 2>/dev/null; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: npm is required for the local Lambda runtime (apt-get install -y nodejs npm)" >&2
  exit 1
fi
echo "setup: installing osls and serverless-offline@13 into $dir"
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"name": "workerplane-tools", "private": true}' > "$dir/package.json"
export SLS_TELEMETRY_DISABLED=1
(cd "$dir" && npm install --no-audit --no-fund --loglevel=error osls "serverless-offline@13" >/dev/null)
"$dir/node_modules/.bin/osls" --version >/dev/null
