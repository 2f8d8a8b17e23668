// Imported first by main.ts, so that it runs before the other modules of the bundle are evaluated: a gateway
// started without its V8 flag and malloc setting (memory.ts: GATEWAY_PROCESS), e.g. `node main.js`, replaces
// itself (same pid) with one that has them. The first image costs a node start-up and a compile of the bundle
// (its code cache is never written: it lives under 5 s): ~0.2-0.3 s CPU measured at load 12 on 2 cores.
import { reexecWith } from '@postern/bin-shared';
import { GATEWAY_PROCESS } from './memory';

const info = ['--version', '-V', '--help', '-h'];
if (!process.argv.slice(2).some((a) => info.includes(a))) {
  try {
    reexecWith(GATEWAY_PROCESS);
  } catch (err) {
    console.error(`postern-gateway: running with V8's and glibc's default heap sizes: ${err instanceof Error ? err.message : String(err)}`);
  }
}
