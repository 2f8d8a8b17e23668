// A STUN probe run inside a namespace (bundled by the NAT e2e test): from ONE local UDP socket it sends a
// BINDING request to each server given on the command line and prints one JSON line
// `{"local": port, "mapped": ["ip:port" | null, ...]}`. Behind an endpoint-independent NAT every server sees
// the same mapped address; behind a symmetric NAT each destination gets its own port.
//   node stun-probe.mjs <local-port|0> <server ip:port>...
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { decodeMessage, encodeMessage, formatTransportAddress, getAttribute, Method, parseTransportAddress, transactionIdKey } from '@postern/stun';

async function main(): Promise<void> {
  const [portArg, ...servers] = process.argv.slice(2);
  const localPort = Number(portArg ?? '0');
  const targets = servers.map((s) => {
    const a = parseTransportAddress(s);
    if (a === undefined) throw new Error(`not an address: ${s}`);
    return a;
  });
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(localPort, resolve));
  const pending = new Map<string, (mapped: string) => void>();
  sock.on('message', (buf) => {
    const r = decodeMessage(new Uint8Array(buf));
    if (!r.ok || r.message.cls !== 'success') return;
    const mapped = getAttribute(r.message, 'XOR-MAPPED-ADDRESS')?.address;
    const done = pending.get(transactionIdKey(r.message.transactionId));
    if (mapped && done) done(formatTransportAddress(mapped));
  });
  const mapped: (string | null)[] = [];
  // One server after the other, so that each binding uses (and shows) its own NAT mapping.
  for (const t of targets) {
    const transactionId = new Uint8Array(randomBytes(12));
    const bytes = encodeMessage({ method: Method.Binding, cls: 'request', transactionId, attributes: [] }, { fingerprint: true });
    const answer = await new Promise<string | null>((resolve) => {
      let tries = 0;
      const send = (): void => {
        sock.send(bytes, t.port, t.address);
      };
      const timer = setInterval(() => {
        if (++tries >= 6) {
          clearInterval(timer);
          resolve(null);
        } else send();
      }, 250);
      pending.set(transactionIdKey(transactionId), (m) => {
        clearInterval(timer);
        resolve(m);
      });
      send();
    });
    mapped.push(answer);
  }
  process.stdout.write(`${JSON.stringify({ local: sock.address().port, mapped })}\n`);
  sock.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`stun-probe: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
