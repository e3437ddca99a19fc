#!/usr/bin/env bash
# Serve the app with N Streamlit processes behind nginx (cookie session affinity, websockets).
# Usage: bash scripts/serve.sh [N]          (N defaults to the number of CPU cores)
# Env:   GEOLOCATE_LISTEN        nginx listen address (default 127.0.0.1:8501; 0.0.0.0:80 for a room)
#        GEOLOCATE_BACKEND_PORT  first backend port (default 8601; backends use N consecutive ports)
#        GEOLOCATE_RUN_DIR       nginx config, pid, error log and backend logs (default a fresh temp dir)
#        GEOLOCATE_NGINX         the nginx binary (default: nginx on PATH, else /usr/sbin/nginx)
#        anything else (GEOLOCATE_WORKSHOP, GEOLOCATE_DATA_DIRS, ...) reaches every app process.
#        GEOLOCATE_RESTART_MAX_S longest pause between restarts of a process that keeps dying (default 30)
#        MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_  glibc's allocator (defaults 2 and 4194304, see below)
# Each app process (and nginx) runs under a restart loop: a process that dies is started again after a
# pause (1 s, doubled after each quick death up to GEOLOCATE_RESTART_MAX_S; back to 1 s after 60 s of
# uptime), and nginx sends new connections to the live processes meanwhile. Only Ctrl-C / SIGTERM stops
# everything. Needs Debian's nginx (apt-get install nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-$(nproc)}
LISTEN=${GEOLOCATE_LISTEN:-127.0.0.1:8501}
PORT0=${GEOLOCATE_BACKEND_PORT:-8601}
RUN_DIR=${GEOLOCATE_RUN_DIR:-$(mktemp -d -t geolocate-serve.XXXXXX)}
PY=${PYTHON:-.venv/bin/python}
NGINX=${GEOLOCATE_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
# glibc's allocator in every app process: blocks of 4 MB and more (an upload's bytes, a decoded photo, large
# arrays) get their own mapping and go back to the OS when freed, and at most 2 heaps are shared by all
# threads. Without this, the memory of an album's freed uploads stays in the process's heaps (measured:
# 545 MB held free after two albums; docs/deploy.md, "Memory of a session with an album").
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-4194304}

if ! [[ "$N" =~ ^[1-9][0-9]*$ ]]; then echo "serve.sh: N must be a positive integer, got '$N'" >&2; exit 2; fi
if [ ! -x "$NGINX" ]; then echo "serve.sh: nginx not found; install it with: apt-get install nginx-light" >&2; exit 2; fi
if [ ! -x "$PY" ]; then echo "serve.sh: $PY not found; run: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt" >&2; exit 2; fi
mkdir -p "$RUN_DIR"

MAX_PAUSE=${GEOLOCATE_RESTART_MAX_S:-30}
loops=()
stopping=0

# supervise NAME LOG CMD...: run CMD, start it again when it exits, until this loop gets SIGTERM.
# Its pid is kept in $RUN_DIR/NAME.pid (the fault-injection script and the tests kill it there).
supervise() {
  local name=$1 log=$2 child="" pause=1 started rc
  shift 2
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; [ -n "$child" ] && wait "$child" 2>/dev/null; rm -f "$RUN_DIR/$name.pid"; exit 0' TERM INT
  while :; do
    started=$SECONDS
    "$@" >>"$log" 2>&1 &
    child=$!
    echo "$child" >"$RUN_DIR/$name.pid"
    rc=0
    wait "$child" || rc=$?
    if ((SECONDS - started >= 60)); then pause=1; fi
    echo "serve.sh: $name exited (status $rc); starting it again in $pause s" | tee -a "$log" >&2
    sleep "$pause" &
    wait $! || true
    pause=$((pause * 2 > MAX_PAUSE ? MAX_PAUSE : pause * 2))
  done
}

stop() {
  trap - EXIT INT TERM
  stopping=1
  for p in "${loops[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM

upstreams=""
for ((i = 0; i < N; i++)); do
  port=$((PORT0 + i))
  supervise "app-$port" "$RUN_DIR/app-$port.log" \
    "$PY" -m streamlit run app.py --server.port "$port" --server.address 127.0.0.1 --server.headless true &
  loops+=($!)
  # A dead process is left out for fail_timeout after one failed connection; new connections go elsewhere.
  upstreams+="        server 127.0.0.1:$port max_fails=1 fail_timeout=5s;"$'\n'
done

sed -e "s#@RUN_DIR@#$RUN_DIR#g" -e "s#@LISTEN@#$LISTEN#g" deploy/nginx.conf.template \
  | awk -v ups="$upstreams" '{ if ($0 == "@UPSTREAMS@") printf "%s", ups; else print }' >"$RUN_DIR/nginx.conf"

# Wait until every backend answers its health check, so the first visitors are not sent to a dead port.
for ((i = 0; i < N; i++)); do
  port=$((PORT0 + i))
  for _ in $(seq 1 240); do
    if "$PY" -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:$port/_stcore/health', timeout=1).read() != b'ok')" 2>/dev/null; then break; fi
    if ! kill -0 "${loops[$i]}" 2>/dev/null; then echo "serve.sh: the restart loop of port $port exited; see $RUN_DIR/app-$port.log" >&2; exit 1; fi
    sleep 0.5
  done
done

supervise nginx "$RUN_DIR/nginx-error.log" "$NGINX" -p "$RUN_DIR" -e "$RUN_DIR/nginx-error.log" -c "$RUN_DIR/nginx.conf" -g "daemon off;" &
loops+=($!)
echo "geolocate: $N app processes on 127.0.0.1:$PORT0-$((PORT0 + N - 1)) behind nginx on http://$LISTEN (logs in $RUN_DIR; each process is restarted if it dies)"
# Wait for a signal; the loops never exit by themselves (a wait cut short by a trapped signal runs the trap).
while :; do
  wait "${loops[@]}" || true
  if ((stopping)); then break; fi
  for p in "${loops[@]}"; do kill -0 "$p" 2>/dev/null || { echo "serve.sh: a restart loop exited unexpectedly; stopping (logs in $RUN_DIR)" >&2; exit 1; }; done
done
