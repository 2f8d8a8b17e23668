// Imported first by main.ts, so that it runs before the rest of the bundle is evaluated: a client started
// without the data plane's V8 flags (@postern/bin-shared DATA_PLANE_NODE_FLAGS: no memory reducer, whose full
// GCs paused traffic for 10-25 ms), e.g. `node main.js` or the installed `postern-client`, replaces itself
// (same pid, arguments, environment) with one that has them. Then glibc's mmap threshold is raised
// (DATA_PLANE_MMAP_THRESHOLD: the rings and pools made afterwards lie below 2^31, cheap addresses for koffi);
// a start whose malloc heap has no room to grow (DATA_PLANE_HEAP_ROOM) re-executes once for a new layout.
import { DATA_PLANE_PROCESS, reexecAtStart } from '@postern/bin-shared';

reexecAtStart('postern-client', DATA_PLANE_PROCESS);
