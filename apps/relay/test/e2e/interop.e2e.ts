// coturn interop in network namespaces: turnutils_uclient against postern-relay with coturn's turnserver as
// the anchor (same traffic, same run), and our TURN client (stun codec) against a real coturn turnserver.
// The output of every process (postern-relay, turnserver, turnutils_peer, each turnutils_uclient run) is kept under
// <test logs>/relay/ and the --user password is registered, for check-secrets.
import { registerSecret } from '@postern/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, getAttribute } from '@postern/stun';
import {
  COTURN_PORT,
  createTopology,
  PASSWORD,
  PEER_IP,
  PEER_PORT,
  POSTERN_PORT,
  RELAY_HOST_SIDE_IP,
  RELAY_IP,
  runUclient,
  startCoturn,
  startPeer,
  startPostern,
  USER,
  type Topology,
  type UclientResult,
} from '../support/topology';
import { TestTurnClient } from '../support/turn-client';

let topo: Topology | undefined;
const need = (): Topology => {
  if (!topo) throw new Error('topology not set up');
  return topo;
};

beforeAll(async () => {
  registerSecret(PASSWORD, 'relay interop --user password');
  topo = await createTopology('relay-e2e', { keepLogs: true });
  startPeer(topo);
  await startCoturn(topo);
  await startPostern(topo);
}, 60_000);

afterAll(async () => {
  await topo?.destroy();
});

function summary(name: string, r: UclientResult): string {
  return `${name}: exit ${r.exitCode}, sent ${r.sent}, received ${r.received}, lost ${r.lost}, ${Math.round(r.wallMs)} ms`;
}

describe('turnutils_uclient against postern-relay (coturn turnserver as the anchor)', () => {
  const modes: [string, string[]][] = [
    ['channel mode, 10 concurrent clients', ['-m', '10', '-n', '100', '-l', '1000', '-z', '5']],
    ['send-indication mode (-s), 10 concurrent clients', ['-s', '-m', '10', '-n', '100', '-l', '1000', '-z', '5']],
  ];
  for (const [name, args] of modes) {
    it(`${name}: no errors and no loss beyond the anchor's`, async () => {
      const anchor = await runUclient(need(), COTURN_PORT, args);
      const ours = await runUclient(need(), POSTERN_PORT, args);
      console.log(summary('coturn', anchor));
      console.log(summary('postern', ours));
      expect(anchor.exitCode).toBe(0);
      expect(ours.exitCode, ours.output.slice(-2000)).toBe(0);
      expect(ours.output).not.toMatch(/error \d{3}/i);
      expect(ours.sent).toBe(anchor.sent);
      expect(ours.received).toBeGreaterThanOrEqual(anchor.received);
      expect(ours.lost).toBeLessThanOrEqual(anchor.lost);
    });
  }

  it('gives up with a wrong password, as against coturn', async () => {
    const anchor = await runUclient(need(), COTURN_PORT, ['-n', '1'], { password: 'wrong', timeoutMs: 30_000 });
    const ours = await runUclient(need(), POSTERN_PORT, ['-n', '1'], { password: 'wrong', timeoutMs: 30_000 });
    expect(anchor.exitCode).not.toBe(0);
    expect(ours.exitCode).not.toBe(0);
  });

  it('reports relayed bytes, allocations and auth failures on /metrics', async () => {
    const text = await (await fetch(`http://${RELAY_HOST_SIDE_IP}:9090/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    expect(value('postern_relay_client_to_peer_bytes_total')).toBeGreaterThan(0);
    expect(value('postern_relay_peer_to_client_packets_total')).toBeGreaterThan(0);
    expect(value('postern_relay_allocations_created_total')).toBeGreaterThan(0);
    expect(value('postern_relay_auth_failures_total')).toBeGreaterThan(0);
  });
});

describe('our TURN client (stun codec) against real servers', () => {
  for (const [name, port] of [
    ['coturn turnserver', COTURN_PORT],
    ['postern-relay', POSTERN_PORT],
  ] as const) {
    it(`allocates on ${name}, binds a channel and relays to the echo peer both ways`, async () => {
      const c = await TestTurnClient.open({ address: RELAY_HOST_SIDE_IP, port }, USER, PASSWORD);
      try {
        const binding = await c.binding();
        expect(getAttribute(binding, 'XOR-MAPPED-ADDRESS')?.address.address).toBe('198.18.16.129');
        const a = await c.allocate();
        expect(a.response.cls, JSON.stringify(getAttribute(a.response, 'ERROR-CODE'))).toBe('success');
        expect(a.relayed[0]?.address).toBe(RELAY_IP);
        expect(a.lifetime).toBeGreaterThan(0);
        // A second ALLOCATE on the same 5-tuple: 437.
        expect(getAttribute((await c.allocate()).response, 'ERROR-CODE')?.code).toBe(ErrorCode.AllocationMismatch);
        const peer = { family: 4 as const, address: PEER_IP, port: PEER_PORT };
        expect((await c.channelBind(0x4000, peer)).cls).toBe('success');
        for (let i = 0; i < 20; i++) c.sendChannelData(0x4000, Buffer.from(`ping ${i}`));
        const got = new Set<string>();
        for (let i = 0; i < 20; i++) {
          const d = await c.nextData();
          if (!d) break;
          expect(d.channel).toBe(0x4000);
          got.add(d.payload.toString());
        }
        expect(got.size).toBeGreaterThanOrEqual(19);
        // Loopback peers are refused.
        const lo = await c.createPermission({ family: 4, address: '127.0.0.1', port: 9 });
        expect(getAttribute(lo, 'ERROR-CODE')?.code).toBe(403);
        expect(getAttribute(await c.refresh(0), 'LIFETIME')?.seconds).toBe(0);
      } finally {
        c.close();
      }
    });
  }
});
