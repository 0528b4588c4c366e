#!/usr/bin/env bash
# start: make sure a Docker engine answers, starting Debian's dockerd only when none does.
# stop:  stop the engine this script started (by its pid), never one it found running.
set -euo pipefail
state_dir="${LAB_ENGINE_DIR:-$(pwd)/.lab/engine}"
pidfile="$state_dir/dockerd.pid"
mkdir -p "$state_dir"

answers() { timeout 5 docker info >/dev/null 2>&1; }

# An engine that stopped leaves its bridges (with their addresses) and its iptables rules behind. A new engine
# whose network takes the same subnet (kind's 172.18.0.0/16) then cannot route between its own containers.
# No engine answers when this runs, so every Docker-named bridge (br-<12 hex>) is stale: remove it and its rules.
clean_stale_bridges() {
  command -v ip >/dev/null || return 0
  for dev in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^br-[0-9a-f]{12}$' || true); do
    for table in filter nat; do
      iptables -t "$table" -S 2>/dev/null | grep -- "$dev" | sed 's/^-A /-D /' | while read -r rule; do
        # shellcheck disable=SC2086  # a rule is a list of words
        iptables -t "$table" $rule 2>/dev/null || true
      done
    done
    ip link delete "$dev" 2>/dev/null || true
    echo "docker engine: removed stale bridge $dev"
  done
}

# `docker run --privileged` (kind's nodes) asks runc for every capability; where this machine's bounding set
# lacks some (a Firecracker VM lacks CAP_SYS_RESOURCE), runc refuses. The engine started here then runs
# containers through scripts/engine/runc-bounded, which drops what the machine cannot grant and hands over to runc.
runtime_flags=()
bounded_runtime() {
  local shim missing
  shim="$(cd "$(dirname "$0")" && pwd)/engine/runc-bounded"
  missing=$("$shim" --unavailable | tr '\n' ' ')
  [ -z "$missing" ] && return 0
  command -v jq >/dev/null || { echo "error: no jq (scripts/engine/runc-bounded needs it); run scripts/sysdeps.sh" >&2; exit 3; }
  runtime_flags=(--add-runtime "lab-runc-bounded=$shim" --default-runtime lab-runc-bounded)
  echo "docker engine: this machine cannot grant ${missing% }; containers run through scripts/engine/runc-bounded, which leaves them out (test infrastructure)"
}

start_with() {
  local driver=$1
  dockerd --storage-driver="$driver" --data-root="$state_dir/data-$driver" --pidfile="$state_dir/dockerd-internal.pid" \
    "${runtime_flags[@]}" >"$state_dir/dockerd.log" 2>&1 &
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
    clean_stale_bridges
    bounded_runtime
    # overlay2 starts containers faster; vfs works everywhere. The driver that worked here is kept: a restarted
    # engine comes back with its images and containers (its data root), never as an empty one on another driver.
    drivers="overlay2 vfs"
    [ -f "$state_dir/driver" ] && drivers=$(cat "$state_dir/driver")
    for driver in $drivers; do
      if start_with "$driver"; then
        echo "$driver" >"$state_dir/driver"
        echo "docker engine: started (storage driver $driver, pid $(cat "$pidfile"))"; exit 0
      fi
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
      # dockerd stops its containers first (up to 10 s each, in parallel): wait it out, or a start that follows
      # finds the data root still locked.
      for _ in $(seq 1 240); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; sleep 1; fi
      rm -f "$pidfile"
      echo "docker engine: stopped (pid $pid)"
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
