# Prism (Stoplight) serves mocks of the providers' official OpenAPI specs with request validation, for contract tests.
# Installed once into .ci/.tools (npm, no global install); tests find the binary through MIDORI_PRISM.
prism_dir="$PWD/.ci/.tools/prism"
prism_bin="$prism_dir/node_modules/.bin/prism"
if [ ! -x "$prism_bin" ]; then
  mkdir -p "$prism_dir"
  npm install --prefix "$prism_dir" --no-audit --no-fund --loglevel=error @stoplight/prism-cli@5.16.0 >/dev/null 2>&1 \
    || { echo "npm install @stoplight/prism-cli failed"; return 1; }
fi
export MIDORI_PRISM="$prism_bin"
echo "prism $("$prism_bin" --version)"
