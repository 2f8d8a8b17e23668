// The relay bench's load generator and sink (bundled by relay.bench.ts, run in the client namespace, the same
// for postern-relay and coturn): N TURN sessions, each its own batched UDP socket (sendmmsg + GSO), allocate
// with long-term credentials (401 -> retry with the nonce), CHANNEL-BIND to the sink, then send ChannelData as
// fast as the sockets take it for the given time. The sink (a batched socket with GRO, same process) counts
// what the relay delivered; the first second is warm-up. Prints one JSON line:
//   {"sessions","size","seconds","offered","received","pps","gbps"}
//   node load.mjs <server ip:port> <user> <password> <sink ip:port> <client ip> <sessions> <payload bytes> <seconds>
import { randomBytes } from 'node:crypto';
import { bindUdp, type SocketAddr, type UdpSocket } from '@postern/socket-factory';
import {
  decodeMessage,
  encodeMessage,
  getAttribute,
  longTermKey,
  Method,
  transactionIdKey,
  writeChannelDataHeader,
  type Attribute,
  type DecodedMessage,
} from '@postern/stun';

const CHANNEL = 0x4000;
const WARMUP_MS = 1000;

class Session {
  private readonly pending = new Map<string, (m: DecodedMessage) => void>();
  private key: Uint8Array | undefined;
  private nonce: string | undefined;
  private realm: string | undefined;
  private open = true;

  constructor(
    readonly sock: UdpSocket,
    readonly server: SocketAddr,
    private readonly user: string,
    private readonly password: string,
  ) {
    void this.receive();
  }

  private async receive(): Promise<void> {
    while (this.open) {
      const batch = await this.sock.recvMany();
      if (batch.length === 0) return;
      for (const d of batch) {
        const r = decodeMessage(d.data);
        if (!r.ok) continue;
        const done = this.pending.get(transactionIdKey(r.message.transactionId));
        done?.(r.message);
      }
    }
  }

  private transact(method: number, attributes: Attribute[]): Promise<DecodedMessage> {
    const transactionId = new Uint8Array(randomBytes(12));
    const attrs = [...attributes];
    if (this.nonce !== undefined && this.realm !== undefined) attrs.push({ name: 'USERNAME', value: this.user }, { name: 'REALM', value: this.realm }, { name: 'NONCE', value: this.nonce });
    const bytes = encodeMessage({ method, cls: 'request', transactionId, attributes: attrs }, this.key ? { integrity: this.key, fingerprint: true } : { fingerprint: true });
    const k = transactionIdKey(transactionId);
    return new Promise((resolve, reject) => {
      let tries = 0;
      const send = (): void => {
        this.sock.sendQueue.push(this.server, bytes);
        this.sock.sendQueue.flush();
      };
      const timer = setInterval(() => {
        if (++tries > 10) {
          clearInterval(timer);
          this.pending.delete(k);
          reject(new Error(`no answer to TURN method ${String(method)} from ${this.server.key}`));
        } else send();
      }, 300);
      this.pending.set(k, (m) => {
        clearInterval(timer);
        this.pending.delete(k);
        resolve(m);
      });
      send();
    });
  }

  async request(method: number, attributes: Attribute[]): Promise<DecodedMessage> {
    let res = await this.transact(method, attributes);
    const code = getAttribute(res, 'ERROR-CODE')?.code;
    if (code === 401 || code === 438) {
      this.nonce = getAttribute(res, 'NONCE')?.value;
      this.realm = getAttribute(res, 'REALM')?.value ?? this.realm;
      if (this.realm !== undefined) this.key = longTermKey(this.user, this.realm, this.password);
      res = await this.transact(method, attributes);
    }
    if (res.cls !== 'success') throw new Error(`TURN method ${String(method)} failed: ${String(getAttribute(res, 'ERROR-CODE')?.code)}`);
    return res;
  }

  async close(): Promise<void> {
    this.open = false;
    await this.request(Method.Refresh, [{ name: 'LIFETIME', seconds: 0 }]).catch(() => undefined);
    await this.sock.close();
  }
}

async function main(): Promise<void> {
  const [serverArg, user, password, sinkArg, clientIp, sessionsArg, sizeArg, secondsArg] = process.argv.slice(2);
  if (secondsArg === undefined || serverArg === undefined || user === undefined || password === undefined || sinkArg === undefined || clientIp === undefined) {
    throw new Error('usage: load.mjs <server ip:port> <user> <password> <sink ip:port> <client ip> <sessions> <payload bytes> <seconds>');
  }
  const sessions = Number(sessionsArg);
  const size = Number(sizeArg);
  const seconds = Number(secondsArg);
  const [sinkIp = '', sinkPort = ''] = sinkArg.split(':');
  const sink = await bindUdp({ address: sinkIp, port: Number(sinkPort), portFallback: false, dualStack: false, recvBufferSize: 32 << 20, maxDatagramSize: 65535 });
  const window = { counting: false, arrived: 0 };
  let received = 0;
  let receivedBytes = 0;
  const drain = (async () => {
    for (;;) {
      const batch = await sink.recvMany();
      if (batch.length === 0) return;
      window.arrived += batch.length;
      if (!window.counting) continue;
      received += batch.length;
      for (const d of batch) receivedBytes += d.data.length;
    }
  })();

  const list: Session[] = [];
  for (let i = 0; i < sessions; i++) {
    const sock = await bindUdp({ address: clientIp, port: 0, portFallback: true, dualStack: false, sendBufferSize: 4 << 20, recvBufferSize: 1 << 20, maxDatagramSize: 2048 });
    list.push(new Session(sock, sock.addr(serverArg), user, password));
  }
  const sinkAddr = sink.addr(sinkArg);
  for (const s of list) {
    await s.request(Method.Allocate, [{ name: 'REQUESTED-TRANSPORT', protocol: 17 }]);
    await s.request(Method.ChannelBind, [
      { name: 'CHANNEL-NUMBER', channel: CHANNEL },
      { name: 'XOR-PEER-ADDRESS', address: { family: 4, address: sinkAddr.address, port: sinkAddr.port } },
    ]);
  }
  const payload = new Uint8Array(size).fill(0x5a);
  const perTick = 64;
  // Closed loop: at most WINDOW datagrams in flight (sent, not yet at the sink), so that the generator does not
  // burn the CPU the relay needs on datagrams the relay would drop anyway. Datagrams lost on the way (no
  // progress for 20 ms with a full window) are written off.
  const WINDOW = 4096;
  let sentTotal = 0;
  let writtenOff = 0;
  let lastProgress = performance.now();
  let lastReceived = 0;
  let offered = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let countedFrom = 0;
  while (performance.now() < end) {
    const now = performance.now();
    if (!window.counting && now - start >= WARMUP_MS) {
      window.counting = true;
      countedFrom = now;
      offered = 0;
    }
    const arrived = window.arrived;
    if (arrived !== lastReceived) {
      lastReceived = arrived;
      lastProgress = now;
    } else if (now - lastProgress > 20) {
      writtenOff = sentTotal - arrived;
      lastProgress = now;
    }
    for (const s of list) {
      if (sentTotal - writtenOff - arrived >= WINDOW) break;
      const q = s.sock.sendQueue;
      // backpressure: refill only once the kernel took the previous batch
      for (let i = q.pending === 0 ? 0 : perTick; i < perTick; i++) {
        const buf = q.reserve(s.server, size + 4);
        writeChannelDataHeader(buf, 0, CHANNEL, size);
        buf.set(payload, 4);
        q.commit(size + 4);
      }
      const n = q.flush();
      offered += n;
      sentTotal += n;
    }
    await new Promise((r) => setImmediate(r));
  }
  const countedMs = performance.now() - countedFrom;
  // what is still in flight arrives within a moment
  await new Promise((r) => setTimeout(r, 200));
  window.counting = false;
  const pps = received / (countedMs / 1000);
  process.stdout.write(
    `${JSON.stringify({ sessions, size, seconds: countedMs / 1000, offered, offeredPps: offered / (countedMs / 1000), received, pps, gbps: (receivedBytes * 8) / (countedMs / 1000) / 1e9 })}\n`,
  );
  for (const s of list) await s.close();
  await sink.close();
  await drain;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`relay bench load: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
