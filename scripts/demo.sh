#!/usr/bin/env bash
# `npm run demo`: a whole Postern deployment on this machine, in network namespaces, with traffic through the
# tunnel. Run as root after scripts/setup.sh. Everything it creates is named pdemo-* and removed on exit.
#
#   pdemo-wan (bridge, 198.18.100.0/24)
#     ├── pdemo-portal  198.18.100.2   postern-portal (ws://198.18.100.2:8080)
#     ├── pdemo-relay   198.18.100.3   postern-relay
#     ├── pdemo-gw      198.18.100.4   postern-gateway ── lab LAN 198.18.101.1/24 ── pdemo-srv 198.18.101.10
#     └── pdemo-client  198.18.100.5   postern-client                                 (HTTP :80, iperf3 -s)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIST="$ROOT/dist/apps"
WORK="$(mktemp -d /tmp/postern-demo.XXXXXX)"
NS=(pdemo-wan pdemo-portal pdemo-relay pdemo-gw pdemo-client pdemo-srv)
PIDS=()
STEP=0
START=$(date +%s)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
step() { STEP=$((STEP + 1)); say "[$STEP] $*"; }
fail() {
  printf '\033[31mFAILED: %s\033[0m\n' "$*" >&2
  for f in "$WORK"/*.log; do
    [ -f "$f" ] || continue
    echo "--- last lines of $(basename "$f") ---" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  say "cleaning up"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for ns in "${NS[@]}"; do
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
  if [ "$rc" -eq 0 ]; then say "demo finished in $(( $(date +%s) - START )) s: all steps passed"; else echo "demo failed (exit $rc)" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" -eq 0 ] || { echo "npm run demo must run as root (it creates network namespaces and TUN devices)" >&2; exit 1; }
for tool in ip nft iperf3 curl node; do command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/setup.sh first"; done

step "building portal, relay, gateway and headless-client"
export NX_DAEMON=false NX_TUI=false
if [ "${POSTERN_DEMO_SKIP_BUILD:-0}" = 1 ]; then
  echo "    skipped (POSTERN_DEMO_SKIP_BUILD=1)"
else
  # The apps are esbuild bundles of the libs' sources: the libs' own tsc builds are not needed here.
  npx nx run-many -t build -p portal relay gateway headless-client --excludeTaskDependencies --outputStyle=static >"$WORK/build.log" 2>&1 || fail "build failed (see $WORK/build.log)"
fi
for app in portal relay gateway headless-client; do [ -f "$DIST/$app/main.js" ] || fail "dist/apps/$app/main.js is missing"; done
echo "    $(node "$DIST/gateway/main.js" --version), $(node "$DIST/headless-client/main.js" --version)"

step "creating network namespaces (WAN bridge 198.18.100.0/24, lab LAN 198.18.101.0/24)"
for ns in "${NS[@]}"; do
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns" && ip -n "$ns" link set lo up || fail "ip netns add $ns"
done
ip -n pdemo-wan link add br0 type bridge && ip -n pdemo-wan link set br0 up || fail "bridge"
wan_host() { # namespace, address, veth name on the bridge side
  ip link add "$3" netns pdemo-wan type veth peer name wan0 netns "$1" || fail "veth $1"
  ip -n pdemo-wan link set "$3" master br0 up
  ip -n "$1" addr add "$2/24" dev wan0
  ip -n "$1" link set wan0 up
}
wan_host pdemo-portal 198.18.100.2 v-portal
wan_host pdemo-relay 198.18.100.3 v-relay
wan_host pdemo-gw 198.18.100.4 v-gw
wan_host pdemo-client 198.18.100.5 v-client
ip link add lan0 netns pdemo-gw type veth peer name lan0 netns pdemo-srv || fail "lab veth"
ip -n pdemo-gw addr add 198.18.101.1/24 dev lan0 && ip -n pdemo-gw link set lan0 up
ip -n pdemo-srv addr add 198.18.101.10/24 dev lan0 && ip -n pdemo-srv link set lan0 up
ip netns exec pdemo-client ping -c1 -W2 198.18.100.4 >/dev/null || fail "client cannot reach the gateway's WAN address"
echo "    client 198.18.100.5 has no route to 198.18.101.0/24 (the lab) except through Postern"

step "starting the resource server in pdemo-srv (HTTP :80 and iperf3 -s)"
ip netns exec pdemo-srv node "$ROOT/scripts/demo/http-server.mjs" 198.18.101.10 80 >"$WORK/http.log" 2>&1 &
PIDS+=($!)
ip netns exec pdemo-srv iperf3 -s -B 198.18.101.10 >"$WORK/iperf3-server.log" 2>&1 &
PIDS+=($!)

step "writing the portal configuration (fresh random tokens, stored hashed)"
tok() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }
GW_TOKEN="$(tok)"; CLIENT_TOKEN="$(tok)"; RELAY_TOKEN="$(tok)"
hash() { node "$DIST/portal/main.js" hash-token "$1"; }
cat >"$WORK/portal.yaml" <<YAML
account: {name: Postern Demo, slug: demo}
server: {listen: "198.18.100.2:8080", public_url: "http://198.18.100.2:8080"}
state: {sqlite: portal-state.sqlite}
dns:
  upstreams: [198.18.101.10]     # inside the demo, never a public resolver
groups: [{name: engineering}]
users: [{email: alice@example.com, name: Alice, groups: [engineering]}]
sites: [{name: lab}]
gateways: [{site: lab, name: lab-gateway, token_hash: "$(hash "$GW_TOKEN")"}]
clients: [{user: alice@example.com, name: demo-client, token_hash: "$(hash "$CLIENT_TOKEN")"}]
relays: [{name: demo-relay, token_hash: "$(hash "$RELAY_TOKEN")"}]
resources:
  - {name: lab-net, type: cidr, address: 198.18.101.0/24, sites: [lab], address_description: the demo lab network}
policies: [{group: engineering, resource: lab-net}]
YAML
node "$DIST/portal/main.js" check-config --config "$WORK/portal.yaml" >/dev/null || fail "the portal configuration does not validate"
echo "    site lab, resource lab-net = 198.18.101.0/24, policy engineering -> lab-net"

step "starting postern-portal in pdemo-portal (ws://198.18.100.2:8080)"
ip netns exec pdemo-portal node "$DIST/portal/main.js" --config "$WORK/portal.yaml" --log-format json >"$WORK/portal.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do
  ip netns exec pdemo-portal curl -sf http://198.18.100.2:8080/healthz >/dev/null 2>&1 && break
  sleep 0.2
done
ip netns exec pdemo-portal curl -sf http://198.18.100.2:8080/healthz >/dev/null || fail "the portal did not come up"

step "starting postern-relay in pdemo-relay"
ip netns exec pdemo-relay env POSTERN_TOKEN="$RELAY_TOKEN" node "$DIST/relay/main.js" --public-ip4-addr 198.18.100.3 \
  --api-url ws://198.18.100.2:8080 --log-format json >"$WORK/relay.log" 2>&1 &
PIDS+=($!)

step "starting postern-gateway in pdemo-gw (setup-forwarding.sh first)"
ip netns exec pdemo-gw bash "$DIST/gateway/setup-forwarding.sh" up || fail "setup-forwarding.sh"
ip netns exec pdemo-gw env POSTERN_TOKEN="$GW_TOKEN" POSTERN_API_URL=ws://198.18.100.2:8080 POSTERN_ID=demo-gateway POSTERN_TUN_THREADS="${POSTERN_TUN_THREADS:-1}" \
  POSTERN_CONFIG_DIR="$WORK/gw-config" node "$DIST/gateway/main.js" --log-format json >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=($GW_PID)

step "starting postern-client in pdemo-client"
ip netns exec pdemo-client env POSTERN_TOKEN="$CLIENT_TOKEN" POSTERN_API_URL=ws://198.18.100.2:8080 POSTERN_ID=demo-client \
  POSTERN_CONFIG_DIR="$WORK/client-config" node "$DIST/headless-client/main.js" --dns-control disabled --log-format json >"$WORK/client.log" 2>&1 &
PIDS+=($!)

step "waiting for the tunnel (portal joined, TUN configured with the lab route)"
for _ in $(seq 1 100); do
  grep -q '"TUN configured"' "$WORK/client.log" 2>/dev/null && grep -q '"TUN configured"' "$WORK/gateway.log" 2>/dev/null && break
  sleep 0.2
done
grep -q '"TUN configured"' "$WORK/gateway.log" || fail "the gateway did not configure its TUN"
grep -q '"TUN configured"' "$WORK/client.log" || fail "the client did not configure its TUN"
echo "    client route: $(ip -n pdemo-client route get 198.18.101.10 | head -1)"

step "fetching http://198.18.101.10/ from the client through the tunnel"
PAGE=""
for _ in 1 2 3 4 5; do
  PAGE="$(ip netns exec pdemo-client curl -sS --max-time 5 http://198.18.101.10/ 2>>"$WORK/curl.log")" && break
  sleep 1
done
[ -n "$PAGE" ] || fail "curl through the tunnel failed"
echo "    $PAGE" | sed 's/<[^>]*>/ /g; s/  */ /g; s/^ */    page: /'
grep -q '"connected to gateway"' "$WORK/client.log" && echo "    client log: connected to gateway (WireGuard handshake done)"

step "iperf3 for 5 s from the client to 198.18.101.10 through the tunnel"
ip netns exec pdemo-client iperf3 -c 198.18.101.10 -t 5 -f m >"$WORK/iperf3.out" 2>&1 || { cat "$WORK/iperf3.out"; fail "iperf3 failed"; }
grep -E 'sender|receiver' "$WORK/iperf3.out" | sed 's/^/    /'

if [ "${POSTERN_DEMO_PAUSE:-0}" = 1 ]; then
  say "paused (POSTERN_DEMO_PAUSE=1): logs in $WORK; press Ctrl-C to clean up"
  while :; do sleep 1; done
fi

step "stopping the gateway with SIGTERM (Goodbye to the client)"
kill -TERM "$GW_PID" 2>/dev/null || true
wait "$GW_PID" 2>/dev/null || true
grep -q '"stopped"' "$WORK/gateway.log" && echo "    gateway stopped cleanly"
ip netns exec pdemo-gw bash "$DIST/gateway/setup-forwarding.sh" down >/dev/null || true
exit 0
