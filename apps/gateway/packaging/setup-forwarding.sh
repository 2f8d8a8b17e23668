#!/usr/bin/env bash
# Postern gateway: IP forwarding and masquerading for traffic from clients (tunnel IPs 100.64.0.0/11 and
# fd00:2021:1111::/107) to the resources. postern-gateway does not change these settings itself; run this once
# as root on the gateway host (the systemd unit runs it as ExecStartPre), or do the same with your own tools.
#
#   setup-forwarding.sh [up|down]        (default: up)
#
# up:   sysctl net.ipv4.ip_forward=1, net.ipv6.conf.all.forwarding=1 (if IPv6 exists), and an nftables table
#       `inet postern-gateway` that masquerades packets from the tunnel ranges leaving through any interface
#       other than the TUN (POSTERN_TUN_NAME, default tun-postern). Idempotent: the table is replaced.
# down: deletes the nftables table (forwarding sysctls are left as they are).
set -euo pipefail

TUN="${POSTERN_TUN_NAME:-tun-postern}"
ACTION="${1:-up}"

case "$ACTION" in
  up)
    sysctl -q -w net.ipv4.ip_forward=1
    if [ -e /proc/sys/net/ipv6/conf/all/forwarding ]; then
      sysctl -q -w net.ipv6.conf.all.forwarding=1 || true
    fi
    nft -f - <<NFT
table inet postern-gateway
delete table inet postern-gateway
table inet postern-gateway {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 100.64.0.0/11 oifname != "$TUN" masquerade
    ip6 saddr fd00:2021:1111::/107 oifname != "$TUN" masquerade
  }
}
NFT
    echo "postern-gateway: forwarding on, masquerading 100.64.0.0/11 and fd00:2021:1111::/107 (not via $TUN)"
    ;;
  down)
    nft delete table inet postern-gateway 2>/dev/null || true
    echo "postern-gateway: masquerading removed"
    ;;
  *)
    echo "usage: $0 [up|down]" >&2
    exit 2
    ;;
esac
