import { describe, expect, it } from 'vitest';
import { World } from './world';

describe('ICE through simulated NATs and a TURN relay', () => {
  it('endpoint-independent NAT on both sides: a direct (srflx) pair, no relayed bytes', () => {
    const w = new World({ clientNat: 'eim', gatewayNat: 'eim', relays: 1 });
    w.useRelays();
    w.run(500);
    w.connect();
    w.run(5_000);
    const s = w.client.node.stats('gateway');
    console.log(s, w.gateway.node.stats('client'), w.client.node.relayStats());
    expect(w.client.events).toContainEqual({ type: 'connected', peerId: 'gateway' });
    expect(s?.path).toBe('srflx');
    expect(w.traffic('client', 20)).toBe(20);
    expect(w.traffic('gateway', 20)).toBe(20);
    expect(w.client.node.stats('gateway')?.relayedTxBytes).toBe(0);
    expect(w.gateway.node.stats('client')?.relayedRxBytes).toBe(0);
  });

  it('symmetric NAT on both sides: a relayed pair carries WireGuard', () => {
    const w = new World({ clientNat: 'symmetric', gatewayNat: 'symmetric', relays: 1 });
    w.useRelays();
    w.run(500);
    w.connect();
    w.run(5_000);
    const s = w.client.node.stats('gateway');
    console.log(s, w.gateway.node.stats('client'), w.client.node.relayStats());
    expect(w.client.events).toContainEqual({ type: 'connected', peerId: 'gateway' });
    expect(s?.path).toBe('relay');
    expect(w.traffic('client', 20)).toBe(20);
    expect(w.traffic('gateway', 20)).toBe(20);
    expect(w.client.node.stats('gateway')?.relayedTxBytes).toBeGreaterThan(0);
  });
});
