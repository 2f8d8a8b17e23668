#!/usr/bin/env bash
# Installs everything Postern's tests and demo need on a fresh Debian machine (run as root). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  iproute2 iputils-ping nftables procps kmod psmisc
  wireguard-go wireguard-tools
  coturn
  iperf3
  dnsutils dnsmasq curl
  chromium
  dpkg-dev
  tcpdump
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# coturn and dnsmasq ship services that start on install; our tests start their own instances.
for svc in coturn dnsmasq; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || true
  pkill -x "$( [ "$svc" = coturn ] && echo turnserver || echo dnsmasq )" >/dev/null 2>&1 || true
done

if [ ! -e /dev/net/tun ]; then
  mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && chmod 0666 /dev/net/tun
fi

echo "setup: npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "setup: done"
