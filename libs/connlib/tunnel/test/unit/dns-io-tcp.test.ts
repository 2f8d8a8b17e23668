// DnsIo's DNS-over-TCP shell against real TCP servers on loopback: answers come back with transport 'tcp',
// one connection serves several queries, a server that hangs up or refuses ends in failures, not crashes.
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { DnsTcpDecoder, encodeTcpFrame } from '@postern/dns';
import { afterEach, describe, expect, it } from 'vitest';
import type { DnsForward, DnsTransport } from '../../src/dns/client-dns';
import { DnsIo, type DnsForwardingState, type DnsUpstreamFailureState } from '../../src/io/dns-io';

interface Got {
  readonly ip: string;
  readonly port: number;
  readonly id: number;
  readonly answers: number;
  readonly transport: DnsTransport | undefined;
}

class RecordingState implements DnsForwardingState, DnsUpstreamFailureState {
  readonly got: Got[] = [];
  readonly failed: { ip: string; port: number; id: number }[] = [];
  handleDnsUpstreamFailure(fromIp: string, fromPort: number, id: number): void {
    this.failed.push({ ip: fromIp, port: fromPort, id });
  }
  pollDnsForward(): DnsForward | undefined {
    return undefined;
  }
  handleDnsUpstreamResponse(fromIp: string, fromPort: number, data: Uint8Array, _now: number, transport?: DnsTransport): void {
    const m = dnsPacket.decode(Buffer.from(data));
    this.got.push({ ip: fromIp, port: fromPort, id: m.id ?? -1, answers: m.answers?.length ?? 0, transport });
  }
  setSystemResolvers(): void {
    /* not used here */
  }
}

function query(id: number): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'big.example', type: 'TXT', class: 'IN' }] }));
}

/** A TCP DNS server answering each query with 20 TXT records (about 4 KB); counts connections. */
function dnsServer(onConnection?: (s: Socket) => boolean): { server: Server; connections: () => number } {
  let n = 0;
  const server = createServer((s) => {
    n++;
    if (onConnection?.(s) === false) return;
    const d = new DnsTcpDecoder();
    s.on('data', (chunk: Buffer) => {
      for (const m of d.push(chunk)) {
        const q = dnsPacket.decode(Buffer.from(m));
        const answers: dnsPacket.Answer[] = Array.from({ length: 20 }, (_, i) => ({ type: 'TXT', name: 'big.example', ttl: 0, data: `${String(i)}${'y'.repeat(199)}` }));
        const f = encodeTcpFrame(new Uint8Array(dnsPacket.encode({ id: q.id ?? 0, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions ?? [], answers })));
        if (f !== undefined) s.write(f);
      }
    });
    s.on('error', () => {
      /* the client may reset */
    });
  });
  return { server, connections: () => n };
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c(); // last in, first out: the client before its server
});

function dnsIo(): DnsIo {
  const guard = (f: () => void): void => {
    f();
  };
  const io = new DnsIo({ logger: pino({ level: 'silent' }), guard, now: () => performance.now() });
  cleanups.push(() => io.close());
  return io;
}

describe('DnsIo over TCP', () => {
  it('forwards over one reused connection and hands the answers back as tcp', async () => {
    const { server, connections } = dnsServer();
    const port = await listen(server);
    cleanups.push(async () => {
      server.close();
      await once(server, 'close');
    });
    const io = dnsIo();
    const state = new RecordingState();
    for (const id of [11, 12, 13]) io.forward(state, { upstream: { ip: '127.0.0.1', port }, query: query(id), transport: 'tcp' });
    await until(() => state.got.length === 3);
    expect(state.got.map((g) => g.id).sort()).toEqual([11, 12, 13]);
    for (const g of state.got) expect(g).toMatchObject({ ip: '127.0.0.1', port, answers: 20, transport: 'tcp' });
    io.forward(state, { upstream: { ip: '127.0.0.1', port }, query: query(14), transport: 'tcp' });
    await until(() => state.got.length === 4);
    expect(connections()).toBe(1);
    expect(io.stats).toMatchObject({ tcpForwarded: 4, tcpAnswers: 4, tcpFailures: 0, forwarded: 0 });
    expect(state.failed).toEqual([]);
  });

  it('a server that hangs up at once and a closed port end in failures, nothing delivered', async () => {
    const { server, connections } = dnsServer((s) => {
      s.destroy();
      return false;
    });
    const port = await listen(server);
    const closed = dnsServer();
    const closedPort = await listen(closed.server);
    closed.server.close();
    await once(closed.server, 'close');
    cleanups.push(async () => {
      server.close();
      await once(server, 'close');
    });
    const io = dnsIo();
    const state = new RecordingState();
    io.forward(state, { upstream: { ip: '127.0.0.1', port }, query: query(21), transport: 'tcp' });
    io.forward(state, { upstream: { ip: '127.0.0.1', port: closedPort }, query: query(22), transport: 'tcp' });
    await until(() => state.failed.length >= 2);
    expect(connections()).toBe(2); // the query was sent again once on a new connection
    expect(state.got).toEqual([]);
    expect(state.failed.map((f) => [f.port, f.id]).sort()).toEqual([
      [port, 21],
      [closedPort, 22],
    ].sort());
  });
});
