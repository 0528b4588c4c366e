#!/usr/bin/env bash
# `make up LAB=...`: the main command on a fresh machine of this project's kind. Installs what is missing (Docker
# and the tools the local images are made from, the venv, the compose plugin), starts a Docker engine when none
# answers, chooses the images (IMAGES=auto: this machine's lab.local/* images when there, else the labs' own when
# an image registry answers, else builds the local ones, saying so), then runs `lab up`.
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=${LAB:-inject-mtls}
IMAGES=${IMAGES:-auto}
BIN=.venv/bin

bash scripts/sysdeps.sh up
make -s venv tools
bash scripts/docker-engine.sh start

registry_answers() {
  # Any HTTP answer from a registry's API means it is reachable (401 asks for a token); none means it is not.
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 https://registry-1.docker.io/v2/ || true)
  [ -n "$code" ] && [ "$code" != 000 ]
}

images_args=()
case "$IMAGES" in
  local)
    make -s images
    images_args=(--images images.local.yaml) ;;
  official) ;;
  auto)
    if docker image inspect lab.local/client:test >/dev/null 2>&1; then
      make -s images  # seconds when built: completes what a newer lab needs
      images_args=(--images images.local.yaml)
      echo "using the local lab.local/* images (images.local.yaml; IMAGES=official for the labs' own)"
    elif registry_answers; then
      echo "an image registry answers: the labs' own images will be pulled (IMAGES=local builds them here instead)"
    else
      echo "no image registry answers: building the labs' images on this machine (make images): the tools from its own"
      echo "binaries in seconds, the control plane from its Go modules (10 to 20 minutes the first time, cached afterwards)"
      make -s images
      images_args=(--images images.local.yaml)
    fi ;;
  *) echo "error: IMAGES must be auto, local or official (not $IMAGES)" >&2; exit 2 ;;
esac

# kind's node image, offline (seconds when built), when kind runs on the local images; lab itself finds kind and
# helm where `make images` built them.
if [[ " ${RUNTIME_FLAG:-} " == *" kind "* ]] && [ ${#images_args[@]} -gt 0 ]; then
  make -s kind-node
fi

# shellcheck disable=SC2086  # RUNTIME_FLAG and ARGS are lists of words
exec "$BIN/lab" up "$LAB" ${RUNTIME_FLAG:-} "${images_args[@]}" ${ARGS:-}
