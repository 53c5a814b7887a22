#!/usr/bin/env bash
# The main job on one machine: `skiff up` with the example manifests, plus one simulated node so
# the example workloads are scheduled and run (simulated: real containers come with the crun
# runtime). Ctrl-C stops everything. Data in $SKIFF_DATA_DIR (default /var/lib/skiff).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${SKIFF_DATA_DIR:-/var/lib/skiff}
PORT=${SKIFF_PORT:-6443}
export KUBECONFIG="$DATA/kubeconfig"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

node bin/skiff.js up --data-dir "$DATA" --port "$PORT" -f manifests/examples &
pids+=($!)
# Ready when the API answers with this run's kubeconfig.
for _ in $(seq 1 150); do
  if [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1; then break; fi
  sleep 0.2
done
kubectl get --raw /readyz >/dev/null

node bin/skiff.js simulate --nodes 1 --name-prefix node- --kubeconfig "$KUBECONFIG" &
pids+=($!)
kubectl wait --for=condition=Available deployment --all -A --timeout=120s
kubectl get nodes,all -A
echo "skiff: running; KUBECONFIG=$KUBECONFIG. Ctrl-C stops the server and the node."
wait "${pids[0]}"
