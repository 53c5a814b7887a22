#!/usr/bin/env bash
# The main job on one machine, as root: build the busybox image from Debian's busybox-static,
# import it into the node's image store, then `skiff up` — API server, controllers, scheduler and
# the node agent running real containers (conmon + crun) — with the example manifests. It waits
# until the examples run, shows them and the client's output, and keeps running until Ctrl-C.
# Data in $SKIFF_DATA_DIR (default /var/lib/skiff). Containers outlive a stopped server (as they
# outlive a kubelet): delete the namespace first to stop them, `kubectl delete ns guestbook`.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${SKIFF_DATA_DIR:-/var/lib/skiff}
PORT=${SKIFF_PORT:-6443}
export KUBECONFIG="$DATA/kubeconfig"
[ "$(id -u)" = 0 ] || { echo "demo: the node agent runs containers and needs root" >&2; exit 1; }

mkdir -p "$DATA"
img=$(mktemp -d)
trap 'rm -rf "$img"' EXIT
sh hack/build-busybox-image.sh "$img/busybox" busybox:latest >/dev/null
node bin/skiff.js images import --data-dir "$DATA" "$img/busybox"

node bin/skiff.js up --data-dir "$DATA" --port "$PORT" -f manifests/examples &
server=$!
trap 'rm -rf "$img"; kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT INT TERM
# Ready when the API answers with this run's kubeconfig and the node is Ready.
for _ in $(seq 1 300); do
  if [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1 && kubectl wait --for=condition=Ready node --all --timeout=1s >/dev/null 2>&1; then break; fi
  kill -0 $server 2>/dev/null || { echo "demo: skiff up exited" >&2; exit 1; }
  sleep 0.2
done
# The examples are applied right after the node starts: wait for them to exist, then to run.
for _ in $(seq 1 150); do
  kubectl get deployment client -n guestbook >/dev/null 2>&1 && break
  sleep 0.2
done
kubectl wait --for=condition=Available deployment --all -n guestbook --timeout=180s
kubectl rollout status daemonset/front -n guestbook --timeout=120s
kubectl get nodes -o wide
kubectl get pods -A -o wide
for _ in $(seq 1 60); do
  out=$(kubectl logs -n guestbook deploy/client 2>/dev/null | grep -m1 'hello from skiff' || true)
  [ -n "$out" ] && break
  sleep 1
done
echo "client received: ${out:-nothing yet}"
echo "skiff: running; KUBECONFIG=$KUBECONFIG. Ctrl-C stops the server (containers keep running)."
wait $server
