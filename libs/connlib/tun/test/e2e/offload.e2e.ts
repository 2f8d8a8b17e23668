// TUN offloads on real devices: a TCP stream with a checksum crosses two TUN devices (namespaces ptun-pa and
// ptun-pb, 198.18.8.16/28) relayed by this process, with offloads on the reading side (the kernel hands us
// TSO super-packets that the reader splits: the receiving kernel verifies every checksum we computed), on the
// writing side (the writer coalesces segments into TSO writes), and on both, with one and two queues.
// Garbage sent through an offloading writer (multi-queue variant) does not disturb the stream. UDP datagrams
// of one flow cross the pair with the writer coalescing them into UDP GSO writes (USO): the receiving kernel
// takes the writes and splits them into the original datagrams. (A local receiver does not verify the checksum
// seed of a NEEDS_CSUM write; the unit tests check the seed against an independent pseudo-header sum.)
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Netns } from '@postern/testing';
import type { Tun } from '../../src/index';
import { HOST_B, createNamespaces, destroyNamespaces, tunPair } from '../support/tun-pair';
import { V4, tcpPacket, udpPacket } from '../support/tcp';

const STREAM = fileURLToPath(new URL('../support/tcp-stream.mjs', import.meta.url));
const UDP_STREAM = fileURLToPath(new URL('../support/udp-stream.mjs', import.meta.url));
const BYTES = Number(process.env['TUN_OFFLOAD_BYTES'] ?? 8 << 20);

let a: Netns | undefined;
let b: Netns | undefined;

beforeAll(async () => {
  [a, b] = await createNamespaces();
});

afterAll(async () => {
  await destroyNamespaces([a, b]);
});

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) {
        resolve(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => { reject(new Error(`exited (${code}) before printing: ${err}`)); });
  });
}

/** Streams `bytes` from a to b over TCP through the pair; returns what each end saw. */
async function stream(na: Netns, nb: Netns, inject?: () => Promise<void>, bytes = BYTES): Promise<{ sent: unknown; received: unknown; ms: number }> {
  const server = nb.spawn(process.execPath, [STREAM, 'server', HOST_B, '5201']);
  try {
    expect(await firstLine(server)).toBe('listening');
    const result = new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      server.on('exit', () => { reject(new Error('server exited without a result')); });
    });
    const t0 = performance.now();
    const client = na.spawn(process.execPath, [STREAM, 'client', HOST_B, '5201', String(bytes)]);
    const sent = firstLine(client);
    const injected = inject?.();
    const received = await result;
    await injected;
    const ms = performance.now() - t0;
    if (client.exitCode === null) await once(client, 'exit');
    return { sent: JSON.parse(await sent), received: JSON.parse(received), ms };
  } finally {
    server.kill('SIGKILL');
  }
}

function report(label: string, ms: number, tunA: Tun, tunB: Tun): void {
  const sa = tunA.stats();
  const sb = tunB.stats();
  process.stdout.write(
    `${label}: ${BYTES >> 20} MiB in ${ms.toFixed(0)} ms including the client process start-up; ` +
      `a: ${tunA.offloads ?? 'off'} rx super ${sa.rxSuperPackets ?? 0}->${sa.rxSuperSegments ?? 0}, malformed ${sa.rxMalformed ?? 0}; ` +
      `b: ${tunB.offloads ?? 'off'} tx super ${sb.txSuperSegments ?? 0}->${sb.txSuperPackets ?? 0}, tx errors ${sb.txErrors}\n`,
  );
}

/** 2000 packets: random bytes, TCP segments with one byte broken, IPv4 headers with garbage, UDP of any size. */
function garbagePackets(): Uint8Array[] {
  let x = 7;
  const rnd = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  const dst = Uint8Array.of(198, 18, 8, 18);
  const out: Uint8Array[] = [];
  for (let i = 0; i < 2000; i++) {
    const kind = i % 4;
    if (kind === 0) out.push(Uint8Array.from({ length: 1 + (rnd() % 200) }, rnd));
    else if (kind === 1) {
      const p = tcpPacket({ ...V4, dst }, { sport: 9, dport: 9, seq: i * 100 }, new Uint8Array(100));
      p[rnd() % 60] = rnd();
      out.push(p);
    } else if (kind === 2) out.push(Uint8Array.of(0x45, ...Array.from({ length: 40 }, rnd)));
    else out.push(udpPacket({ ...V4, dst }, 9, 9, new Uint8Array(rnd())));
  }
  return out;
}

describe.each([
  { label: 'offloads on the read side (split)', offA: true, offB: false, queues: 1 },
  { label: 'offloads on the write side (coalesce)', offA: false, offB: true, queues: 1 },
  { label: 'offloads on both sides', offA: true, offB: true, queues: 1 },
  { label: 'offloads on both sides, multi-queue (2), garbage through the writer', offA: true, offB: true, queues: 2, garbage: true },
])('TCP through a TUN pair: $label', ({ label, offA, offB, queues, garbage }) => {
  it('arrives intact (SHA-256 of the stream), and the offload paths were used', async () => {
    if (a === undefined || b === undefined) throw new Error('namespaces not created');
    const pair = await tunPair(a, b, { offloads: offA, queues }, { offloads: offB, queues });
    try {
      expect(pair.tunA.offloads !== 'off').toBe(offA);
      const junk = garbage === true ? garbagePackets() : [];
      const { sent, received, ms } = await stream(a, b, async () => {
        // Malformed and near-miss packets pushed through B's offloading writer while the stream runs.
        for (let i = 0; i < junk.length; i += 100) {
          await pair.tunB.sendAll(junk.slice(i, i + 100));
          await new Promise((r) => setTimeout(r, 5));
        }
      });
      expect(received).toEqual(sent);
      if (junk.length > 0) {
        const sb = pair.tunB.stats();
        process.stdout.write(`garbage: ${junk.length} injected, ${sb.txErrors} refused by the kernel\n`);
        expect(sb.txPackets).toBeGreaterThanOrEqual(junk.length);
      }
      report(label, ms, pair.tunA, pair.tunB);
      const sa = pair.tunA.stats();
      const sb = pair.tunB.stats();
      if (offA) {
        // The sending kernel handed us TSO super-packets; we split them; the receiving kernel accepted our checksums.
        expect(sa.rxSuperPackets).toBeGreaterThan(0);
        expect(sa.rxSuperSegments ?? 0).toBeGreaterThan(2 * (sa.rxSuperPackets ?? 0));
        expect(sa.rxMalformed).toBe(0);
      }
      if (offB) {
        expect(sb.txSuperPackets).toBeGreaterThan(0);
        expect(sb.txSuperSegments ?? 0).toBeGreaterThan(2 * (sb.txSuperPackets ?? 0));
      }
      if (garbage !== true) expect(sb.txErrors).toBe(0);
    } finally {
      await pair.close();
    }
  });
});


describe('UDP through a TUN pair: offloads on the write side (USO: same-size datagrams of one flow coalesced)', () => {
  it('every datagram that arrives is intact, most arrive, and the writer made UDP GSO writes', async () => {
    if (a === undefined || b === undefined) throw new Error('namespaces not created');
    const pair = await tunPair(a, b, { offloads: false }, { offloads: true });
    const server = b.spawn(process.execPath, [UDP_STREAM, 'server', HOST_B, '5202']);
    try {
      expect(pair.tunB.offloads).toBe('tso+uso'); // Linux >= 6.2 takes TUN_F_USO4/6
      expect(await firstLine(server)).toBe('listening');
      const result = firstLine(server);
      const count = 4000;
      const client = a.spawn(process.execPath, [UDP_STREAM, 'client', HOST_B, '5202', String(count), '1200']);
      expect(JSON.parse(await firstLine(client))).toEqual({ sent: count });
      const got = JSON.parse(await result) as { received: number; bad: number; bytes: number };
      const sb = pair.tunB.stats();
      process.stdout.write(
        `UDP through the pair: ${String(got.received)}/${String(count)} datagrams received, ${String(got.bad)} bad; ` +
          `b: ${pair.tunB.offloads ?? 'off'} tx super ${String(sb.txSuperSegments ?? 0)}->${String(sb.txSuperPackets ?? 0)}, tx errors ${String(sb.txErrors)}\n`,
      );
      expect(got.bad).toBe(0);
      expect(got.received).toBeGreaterThan(count / 2);
      expect(sb.txErrors).toBe(0);
      expect(sb.txSuperPackets).toBeGreaterThan(0);
      expect(sb.txSuperSegments ?? 0).toBeGreaterThan(2 * (sb.txSuperPackets ?? 0));
    } finally {
      server.kill('SIGKILL');
      await pair.close();
    }
  });
});

// The workers' loops allocate nothing per packet (no subarray per copy, no result objects): during a stream of
// ~23,000 segments the four worker isolates (reader and writer of each device, offloads on both sides: split
// and coalesce) barely collect. With one view per copied segment (before) the reader alone made ~3 MB of
// garbage: 3 scavenges in the reader of a, one of 40 ms, and one in the writer of b (measured with views made per copy).
describe('TUN worker isolates during a TCP stream', () => {
  const GC_BYTES = 32 << 20;
  it('collect garbage at most once per device (start-up leftovers), offloads on both sides', async () => {
    if (a === undefined || b === undefined) throw new Error('namespaces not created');
    const pair = await tunPair(a, b, { offloads: true, gcStats: true }, { offloads: true, gcStats: true });
    let closed = false;
    try {
      const { sent, received, ms } = await stream(a, b, undefined, GC_BYTES);
      expect(received).toEqual(sent);
      await pair.close();
      closed = true;
      const ga = pair.tunA.stats().workerGc;
      const gb = pair.tunB.stats().workerGc;
      process.stdout.write(
        `worker GC over ${String(GC_BYTES >> 20)} MiB (${ms.toFixed(0)} ms): a (reader splits) ${JSON.stringify(ga)}, b (writer coalesces) ${JSON.stringify(gb)}\n`,
      );
      expect(ga).toBeDefined();
      expect(gb).toBeDefined();
      expect(ga?.count ?? Infinity).toBeLessThanOrEqual(1);
      expect(gb?.count ?? Infinity).toBeLessThanOrEqual(1);
    } finally {
      if (!closed) await pair.close();
    }
  });
});
