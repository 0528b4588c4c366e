#!/usr/bin/env bash
# Install the system tools the labs and the tests drive for real, when missing (Debian/Ubuntu, as root or with sudo).
#   sysdeps.sh up    what `make up` needs: Docker, and what the local images are built from (haproxy, curl, openssl,
#                    iptables, busybox), graphviz for `lab guide`'s picture
#   sysdeps.sh test  that, and chromium (the guide's test renders it)
#   sysdeps.sh kind  what `make kind-node` builds kind's node image from: mmdebstrap (Debian's packages), a C
#                    compiler with libseccomp (runc) and a static libc (the pause container)
set -euo pipefail
profile=${1:-test}
declare -A pkg_for=([haproxy]=haproxy [openssl]=openssl [curl]=curl [iptables]=iptables [dockerd]=docker.io [busybox]=busybox-static
  [dot]=graphviz [jq]=jq)  # dot draws `lab guide`'s topology; jq: scripts/engine/runc-bounded
[ "$profile" = test ] && pkg_for[chromium]=chromium  # chromium renders the guide in its test
missing=()
if [ "$profile" = kind ]; then
  for package in mmdebstrap gcc libc6-dev libseccomp-dev; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
else
  for tool in "${!pkg_for[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${pkg_for[$tool]}")
  done
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
  exit 3
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
