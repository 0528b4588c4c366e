#!/usr/bin/env bash
# Install the system tools the tests drive for real, when missing (Debian/Ubuntu, as root or with sudo).
set -euo pipefail
declare -A pkg_for=([haproxy]=haproxy [openssl]=openssl [curl]=curl [iptables]=iptables [dockerd]=docker.io [busybox]=busybox-static
  [dot]=graphviz [chromium]=chromium)  # dot draws `lab guide`'s topology; chromium renders the guide in its test
missing=()
for tool in "${!pkg_for[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${pkg_for[$tool]}")
done
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
