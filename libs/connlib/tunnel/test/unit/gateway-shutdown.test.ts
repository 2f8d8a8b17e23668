// Graceful gateway shutdown also deletes its TURN allocations (REFRESH with LIFETIME 0), so a relay frees the
// port at once instead of holding it until the allocation times out. Driven against the real sans-IO TurnServer.
import { describe, expect, it } from 'vitest';
import { firezonePassword, TurnServer } from '@postern/relay-proto';
import { decodeMessage, getAttribute, Method } from '@postern/stun';
import { GatewayState } from '../../src/index';
import { addr, gatewayMessage, WALL } from '../support/gateway-harness';
import { key, seededRng } from '../support/rng';

const RELAY_IP = '198.18.24.9';
const SECRET = 'stamp-secret-for-tests';
const GATEWAY = addr('198.18.24.2:52625');

function setUp() {
  const relay = new TurnServer({ publicIp4: RELAY_IP, stampSecret: SECRET, lowestPort: 50_000, highestPort: 50_099 }, seededRng(21));
  const gateway = new GatewayState({ privateKey: key(seededRng(22)), rng: seededRng(23), wallClockAtZero: WALL });
  const expires = 4_000_000_000;
  gateway.setLocalAddresses([GATEWAY], 0);
  gateway.handlePortalMessage(
    gatewayMessage({
      event: 'init',
      payload: {
        interface: { ipv4: '100.64.0.1', ipv6: 'fd00:2021:1111::1' },
        config: { ipv4_masquerade_enabled: true, ipv6_masquerade_enabled: true },
        flow_logs: { api_url: 'http://localhost', upload_interval_secs: 0, upload_batch_size: 0 },
        relays: [{ type: 'turn', id: 'relay-1', addr: `${RELAY_IP}:3478`, username: `${String(expires)}:salt`, password: firezonePassword(SECRET, expires, 'salt'), expires_at: expires }],
      },
    }),
    0,
  );
  /** Moves datagrams between the gateway and the relay until both are quiet; returns STUN methods the gateway sent. */
  const pump = (now: number): number[] => {
    const sent: number[] = [];
    for (let round = 0; round < 50; round++) {
      let moved = false;
      for (let t = gateway.pollTransmit(); t !== undefined; t = gateway.pollTransmit()) {
        moved = true;
        const m = decodeMessage(t.payload);
        if (m.ok) sent.push(m.message.method);
        relay.handleClientInput(t.payload, GATEWAY, now);
      }
      for (let t = relay.pollTransmit(); t !== undefined; t = relay.pollTransmit()) {
        moved = true;
        gateway.handleNetworkDatagram(addr(`${RELAY_IP}:3478`), t.payload, now);
      }
      if (!moved) break;
    }
    return sent;
  };
  return { relay, gateway, pump };
}

describe('GatewayState.shutdown and relays', () => {
  it('allocates on the relay from init, and deletes the allocation on shutdown', () => {
    const { relay, gateway, pump } = setUp();
    const before = pump(1);
    expect(before).toContain(Method.Allocate);
    expect(relay.metrics(1).allocations).toBe(1);

    gateway.shutdown(2);
    const sent: Uint8Array[] = [];
    for (let t = gateway.pollTransmit(); t !== undefined; t = gateway.pollTransmit()) sent.push(t.payload.slice());
    const refreshes = sent.map((p) => decodeMessage(p)).flatMap((m) => (m.ok && m.message.method === Method.Refresh ? [m.message] : []));
    expect(refreshes).toHaveLength(1);
    const lifetime = refreshes[0] === undefined ? undefined : getAttribute(refreshes[0], 'LIFETIME');
    expect(lifetime?.seconds).toBe(0);

    for (const p of sent) relay.handleClientInput(p, GATEWAY, 2);
    expect(relay.metrics(2).allocations).toBe(0);
  });
});
