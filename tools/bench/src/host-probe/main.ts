// The host probe (a measuring instrument of tools/bench, not shipped): how fast one thread of this machine is
// right now, so that runs made hours apart on the shared host can be told apart from changes of the code. Two
// fixed workloads, each timed in rounds after a warm-up round:
//   seal: ChaCha20-Poly1305 over 1,232 bytes in place (the bench's UDP packet padded), through OpenSSL's EVP
//         interface by koffi (pinned: `transport: 'evp'`, so that the gauge stays the same whichever transport
//         AEAD Postern runs): native code;
//   js:   a JS loop summing the same 1,232 bytes as 16-bit words (RFC 1071 style): V8's optimised code.
//
//   node host-probe.mjs [--rounds 5] [--ms 200]
//
// Prints one line, `{"hostProbe":{"sealNs":<median ns per seal>,"jsNs":<median ns per sum>,"sealRounds":[...],
// "jsRounds":[...]}}`, and exits 0; exit 2 with a message on bad arguments.
import { createOpenSslBackend, type Aead } from '@postern/wireguard';
import { median } from '../aggregate';

export const PROBE_BYTES = 1232;
const BATCH = 1000;

function usage(message: string): never {
  process.stderr.write(`host-probe: ${message}\n`);
  process.exit(2);
}

function intArg(argv: readonly string[], name: string, dflt: number, min: number, max: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < min || v > max) usage(`--${name} must be an integer in [${String(min)}, ${String(max)}]`);
  return v;
}

/** ns per call of `work` over at least `ms` milliseconds (batches of 1,000 calls). */
function timeRound(ms: number, work: () => void): number {
  const budget = ms * 1e6;
  const t0 = process.hrtime.bigint();
  let calls = 0;
  let elapsed = 0;
  do {
    for (let i = 0; i < BATCH; i++) work();
    calls += BATCH;
    elapsed = Number(process.hrtime.bigint() - t0);
  } while (elapsed < budget);
  return elapsed / calls;
}

function main(): void {
  const argv = process.argv.slice(2);
  const rounds = intArg(argv, 'rounds', 5, 1, 100);
  const ms = intArg(argv, 'ms', 200, 10, 10_000);
  const buf = new Uint8Array(PROBE_BYTES + 16);
  for (let i = 0; i < PROBE_BYTES; i++) buf[i] = (i * 131 + 7) & 0xff;
  const aead: Aead = createOpenSslBackend({ transport: 'evp' }).aead(new Uint8Array(32).fill(0x42));
  let counter = 0;
  const seal = (): void => {
    aead.seal(counter++, buf, 0, PROBE_BYTES);
  };
  let sink = 0;
  const sum = (): void => {
    let s = 0;
    for (let i = 0; i + 1 < PROBE_BYTES; i += 2) s += ((buf[i] ?? 0) << 8) | (buf[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    sink ^= s;
  };
  const measure = (work: () => void): number[] => {
    timeRound(ms, work); // warm-up: V8 optimises, OpenSSL picks its code path
    return Array.from({ length: rounds }, () => timeRound(ms, work));
  };
  const sealRounds = measure(seal);
  const jsRounds = measure(sum);
  aead.dispose();
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  process.stdout.write(
    JSON.stringify({ hostProbe: { sealNs: r2(median(sealRounds) ?? 0), jsNs: r2(median(jsRounds) ?? 0), sealRounds: sealRounds.map(r2), jsRounds: jsRounds.map(r2), sink: sink & 1 } }) + '\n',
  );
}

main();
