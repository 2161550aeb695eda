# shellcheck shell=bash
# Node dependencies of the TypeScript client (clients/typescript): node and npm from Debian when missing, then
# `npm ci` from the committed package-lock.json (skipped when node_modules already matches it). Sourced by .ci/run;
# uses `return`, never `exit`. The .NET test TypeScriptClientTests runs `npm test` there against the operator.

midori_node_client_setup() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/clients/typescript"
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node-client: installing nodejs and npm with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; } >/dev/null 2>&1 \
      || { echo "node-client: apt-get install nodejs npm failed"; return 1; }
  fi
  echo "node-client: node $(node --version), npm $(npm --version)"
  # npm ci rewrites node_modules; skip it when the installed tree was made from this very lock file.
  local lock stamp="$dir/node_modules/.midori-lock.sha256"
  lock=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock" ]; then
    echo "node-client: node_modules up to date"
    return 0
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || { echo "node-client: npm ci failed"; return 1; }
  echo "$lock" > "$stamp"
}

midori_node_client_setup
