// Relayed packets/s and Gbit/s through postern-relay vs coturn's turnserver: the same turnutils_uclient load
// (channel mode, many sessions, echo peer) against each in the same run. Every message is relayed twice
// (client -> peer, echo peer -> client), so relayed packets = 2 x received.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COTURN_PORT, createTopology, POSTERN_PORT, runUclient, startCoturn, startPeer, startPostern, type Topology, type UclientResult } from '../support/topology';

const SESSIONS = process.env['RELAY_BENCH_SESSIONS'] ?? '40';
const MESSAGES = process.env['RELAY_BENCH_MESSAGES'] ?? '1500';
const LENGTH = Number(process.env['RELAY_BENCH_LENGTH'] ?? 1200);

let topo: Topology | undefined;

beforeAll(async () => {
  topo = await createTopology('relay-bench');
  startPeer(topo);
  await startCoturn(topo);
  await startPostern(topo, ['--relay-socket-backend', process.env['RELAY_BENCH_RELAY_BACKEND'] ?? 'auto']);
}, 60_000);

afterAll(async () => {
  await topo?.destroy();
});

interface Figures {
  readonly pps: number;
  readonly gbps: number;
  readonly r: UclientResult;
}

function figures(r: UclientResult): Figures {
  const pps = (2 * r.received) / (r.wallMs / 1000);
  return { pps, gbps: (pps * LENGTH * 8) / 1e9, r };
}

describe('relay throughput: postern-relay vs coturn turnserver (turnutils_uclient load)', () => {
  it(`relays ${SESSIONS} sessions x ${MESSAGES} messages of ${LENGTH} B`, async () => {
    const t = topo;
    if (!t) throw new Error('no topology');
    const args = ['-c', '-m', SESSIONS, '-n', MESSAGES, '-l', String(LENGTH), '-z', '1'];
    const coturn = figures(await runUclient(t, COTURN_PORT, args, { timeoutMs: 300_000 }));
    const ours = figures(await runUclient(t, POSTERN_PORT, args, { timeoutMs: 300_000 }));
    const row = (name: string, f: Figures): string =>
      `${name.padEnd(14)} ${Math.round(f.pps).toString().padStart(8)} relayed pps ${f.gbps.toFixed(3)} Gbit/s  (sent ${f.r.sent}, received ${f.r.received}, lost ${f.r.lost}, ${Math.round(f.r.wallMs)} ms)`;
    process.stdout.write(
      ['', `relay bench: uclient -m ${SESSIONS} -n ${MESSAGES} -l ${LENGTH} -z 1 (channel mode)`, row('coturn', coturn), row('postern-relay', ours), `ratio postern/coturn: ${(ours.pps / coturn.pps).toFixed(2)} (packets/s)`, ''].join('\n'),
    );
    expect(ours.r.exitCode).toBe(0);
    expect(ours.r.received).toBeGreaterThan(0);
  });
});
