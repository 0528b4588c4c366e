#!/usr/bin/env bash
# start: make sure a Docker engine answers, starting Debian's dockerd only when none does.
# stop:  stop the engine this script started (by its pid), never one it found running.
set -euo pipefail
state_dir="${LAB_ENGINE_DIR:-$(pwd)/.lab/engine}"
pidfile="$state_dir/dockerd.pid"
mkdir -p "$state_dir"

answers() { timeout 5 docker info >/dev/null 2>&1; }

start_with() {
  local driver=$1
  dockerd --storage-driver="$driver" --data-root="$state_dir/data-$driver" --pidfile="$state_dir/dockerd-internal.pid" \
    >"$state_dir/dockerd.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 60); do
    answers && return 0
    kill -0 "$(cat "$pidfile")" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

case "${1:-}" in
  start)
    if answers; then echo "docker engine: already running, leaving it alone"; exit 0; fi
    command -v dockerd >/dev/null || { echo "error: no dockerd; run scripts/sysdeps.sh" >&2; exit 3; }
    # overlay2 starts containers faster; vfs works everywhere.
    for driver in overlay2 vfs; do
      if start_with "$driver"; then echo "docker engine: started (storage driver $driver, pid $(cat "$pidfile"))"; exit 0; fi
      [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
      sleep 1
      rm -f "$pidfile"
    done
    echo "error: dockerd did not come up; see $state_dir/dockerd.log" >&2
    tail -20 "$state_dir/dockerd.log" >&2 || true
    exit 3
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      rm -f "$pidfile"
      echo "docker engine: stopped (pid $pid)"
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
