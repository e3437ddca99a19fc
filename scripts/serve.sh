#!/usr/bin/env bash
# Serve the app with N Streamlit processes behind nginx (cookie session affinity, websockets).
# Usage: bash scripts/serve.sh [N]          (N defaults to the number of CPU cores)
# Env:   GEOLOCATE_LISTEN        nginx listen address (default 127.0.0.1:8501; 0.0.0.0:80 for a room)
#        GEOLOCATE_BACKEND_PORT  first backend port (default 8601; backends use N consecutive ports)
#        GEOLOCATE_RUN_DIR       nginx config, pid, error log and backend logs (default a fresh temp dir)
#        GEOLOCATE_NGINX         the nginx binary (default: nginx on PATH, else /usr/sbin/nginx)
#        anything else (GEOLOCATE_WORKSHOP, GEOLOCATE_DATA_DIRS, ...) reaches every app process.
# Stops everything on Ctrl-C / SIGTERM. Needs Debian's nginx (apt-get install nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-$(nproc)}
LISTEN=${GEOLOCATE_LISTEN:-127.0.0.1:8501}
PORT0=${GEOLOCATE_BACKEND_PORT:-8601}
RUN_DIR=${GEOLOCATE_RUN_DIR:-$(mktemp -d -t geolocate-serve.XXXXXX)}
PY=${PYTHON:-.venv/bin/python}
NGINX=${GEOLOCATE_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

if ! [[ "$N" =~ ^[1-9][0-9]*$ ]]; then echo "serve.sh: N must be a positive integer, got '$N'" >&2; exit 2; fi
if [ ! -x "$NGINX" ]; then echo "serve.sh: nginx not found; install it with: apt-get install nginx-light" >&2; exit 2; fi
if [ ! -x "$PY" ]; then echo "serve.sh: $PY not found; run: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt" >&2; exit 2; fi
mkdir -p "$RUN_DIR"

pids=()
stop() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM

upstreams=""
for ((i = 0; i < N; i++)); do
  port=$((PORT0 + i))
  "$PY" -m streamlit run app.py --server.port "$port" --server.address 127.0.0.1 --server.headless true \
    >"$RUN_DIR/app-$port.log" 2>&1 &
  pids+=($!)
  upstreams+="        server 127.0.0.1:$port;"$'\n'
done

sed -e "s#@RUN_DIR@#$RUN_DIR#g" -e "s#@LISTEN@#$LISTEN#g" deploy/nginx.conf.template \
  | awk -v ups="$upstreams" '{ if ($0 == "@UPSTREAMS@") printf "%s", ups; else print }' >"$RUN_DIR/nginx.conf"

# Wait until every backend answers its health check, so the first visitors are not sent to a dead port.
for ((i = 0; i < N; i++)); do
  port=$((PORT0 + i))
  for _ in $(seq 1 240); do
    if "$PY" -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:$port/_stcore/health', timeout=1).read() != b'ok')" 2>/dev/null; then break; fi
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then echo "serve.sh: app process on port $port exited; see $RUN_DIR/app-$port.log" >&2; exit 1; fi
    sleep 0.5
  done
done

"$NGINX" -p "$RUN_DIR" -e "$RUN_DIR/nginx-error.log" -c "$RUN_DIR/nginx.conf" -g "daemon off;" &
pids+=($!)
echo "geolocate: $N app processes on 127.0.0.1:$PORT0-$((PORT0 + N - 1)) behind nginx on http://$LISTEN (logs in $RUN_DIR)"
wait -n "${pids[@]}"
echo "serve.sh: a process exited; stopping the rest (logs in $RUN_DIR)" >&2
exit 1
