// The ceiling endpoint (tools/bench's reference path `ceiling`; a measuring instrument, NOT shipped): one Node
// process per side, bundled by the bench (ceiling.ts) and run in its namespaces.
//
//   node ceiling.mjs --tun pbn-ceil-c --local 198.19.0.5:51830 --peer 198.19.0.4:51830 \
//     --tx-key <64 hex> --rx-key <64 hex> --tx-index 2 --rx-index 1 [--mtu 1280] [--stats-ms 0]
//
// Prints `ready` once the TUN and the socket are open (the caller then configures the device), a JSON stats
// line every --stats-ms (0: never) and on SIGTERM/SIGINT, then exits 0.
import { cryptoBackend } from '@postern/wireguard';
import { parseCeilingArgs } from './args';
import { CeilingLoop } from './loop';
import { CeilingError, openTun, openUdp } from './sys';

async function main(): Promise<void> {
  const a = parseCeilingArgs(process.argv.slice(2));
  const backend = cryptoBackend();
  const loop = new CeilingLoop({
    tunFd: openTun(a.tun),
    udpFd: openUdp(a.local, a.peer, 8 * 1024 * 1024),
    mtu: a.mtu,
    txAead: backend.aead(a.txKey),
    rxAead: backend.aead(a.rxKey),
    txIndex: a.txIndex,
    rxIndex: a.rxIndex,
  });
  const addr = loop.addresses();
  const small = (x: number): string => (x <= 0x7fff_ffff ? 'small' : 'large');
  const print = (): void => {
    process.stdout.write(JSON.stringify({ stats: loop.stats }) + '\n');
  };
  const timer = a.statsMs > 0 ? setInterval(print, a.statsMs) : undefined;
  const end = (): void => {
    loop.stop();
  };
  process.once('SIGTERM', end);
  process.once('SIGINT', end);
  process.stdout.write(`ready ${a.tun} mtu ${String(a.mtu)} aead ${backend.name} packet memory tx ${small(addr.tx)} rx ${small(addr.rx)} addresses\n`);
  await loop.run();
  if (timer !== undefined) clearInterval(timer);
  print();
}

main().catch((e: unknown) => {
  process.stderr.write(`ceiling: ${e instanceof CeilingError ? `${e.code}: ` : ''}${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
