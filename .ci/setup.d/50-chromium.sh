# shellcheck shell=bash
# A real browser for the playground test (tests/Midori.Operator.Tests/DevStack/PlaygroundBrowserTests.cs): Debian's
# chromium from apt, driven by playwright-core from npm through its executable path (playwright's own browser download
# is never used). Exports MIDORI_CHROMIUM. Sourced by .ci/run; uses `return`, never `exit`.

midori_chromium_setup() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/Midori.Operator.Tests/DevStack/Browser"
  if ! command -v chromium >/dev/null 2>&1; then
    echo "chromium: installing chromium with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } >/dev/null 2>&1 \
      || { echo "chromium: apt-get install chromium failed"; return 1; }
  fi
  local lock stamp="$dir/node_modules/.midori-lock.sha256"
  lock=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock" ]; then
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) || { echo "chromium: npm ci failed"; return 1; }
    echo "$lock" > "$stamp"
  fi
  MIDORI_CHROMIUM="$(command -v chromium)"
  export MIDORI_CHROMIUM
  echo "chromium: $("$MIDORI_CHROMIUM" --version 2>/dev/null | head -1), playwright-core $(cd "$dir" && node -p 'require("playwright-core/package.json").version')"
}

midori_chromium_setup
