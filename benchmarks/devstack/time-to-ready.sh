#!/usr/bin/env bash
# Time from the README's first command to the sample preview Ready, on this machine.
# Usage: benchmarks/devstack/time-to-ready.sh [runs]   (needs kubectl; builds once first, then times `dotnet run --no-build`)
# Prints, per run: seconds until the stack printed its banner, and until `kubectl wait --for=condition=Ready` returned
# after `kubectl apply -f` of the sample. The build itself is not timed (a first `dotnet run` adds it once).
set -euo pipefail
set -m # background jobs get their own process group, so the stack can be stopped as a whole
runs=${1:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
kubectl=${MIDORI_KUBECTL:-kubectl}
sample="$root/config/samples/preview.midori.dev_v1alpha1_previewsandbox.yaml"
dotnet build "$root/src/Midori.DevStack" -c Release -v quiet -nologo >/dev/null

now() { date +%s.%N; }
stack_s=(); ready_s=()
for run in $(seq 1 "$runs"); do
  data=$(mktemp -d); log="$data/stack.log"
  start=$(now)
  dotnet run --project "$root/src/Midori.DevStack" -c Release --no-build -- \
    "--DevStack:DataDirectory=$data" --Urls=http://127.0.0.1:0 >"$log" 2>&1 &
  pid=$!
  until grep -q "kubectl wait" "$log" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.05
  done
  up=$(now)
  "$kubectl" --kubeconfig "$data/kubeconfig" --cache-dir "$data/cache" apply -f "$sample" >/dev/null
  "$kubectl" --kubeconfig "$data/kubeconfig" --cache-dir "$data/cache" wait --for=condition=Ready psb/hello-preview --timeout=120s >/dev/null
  ready=$(now)
  kill -TERM -- "-$pid"; wait "$pid" || true
  rm -rf "$data"
  stack_s+=("$(echo "$up - $start" | bc)"); ready_s+=("$(echo "$ready - $start" | bc)")
  printf 'run %d: stack up %.2f s, sample Ready %.2f s after the command\n' "$run" "${stack_s[-1]}" "${ready_s[-1]}"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf 'median of %d: stack up %.2f s, sample Ready %.2f s (%s, %s cores, load %s)\n' "$runs" "$(median "${stack_s[@]}")" "$(median "${ready_s[@]}")" \
  "$(uname -m)" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)"
