// Imported first by main.ts, so that it runs before the other modules of the bundle are evaluated: a gateway
// started without its V8 flags and malloc setting (memory.ts: GATEWAY_PROCESS), e.g. `node main.js`, replaces
// itself (same pid) with one that has them. The first image costs a node start-up and a compile of the bundle
// (its code cache is never written: it lives under 5 s): ~0.2-0.3 s CPU measured at load 12 on 2 cores.
import { reexecAtStart } from '@postern/bin-shared';
import { GATEWAY_PROCESS } from './memory';

reexecAtStart('postern-gateway', GATEWAY_PROCESS);
