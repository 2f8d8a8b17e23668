// Imported first by tunnel-service.ts, so that it runs before the rest of the bundle is evaluated: the tunnel
// service carries the client's traffic, so it runs with the data plane's V8 flags (@postern/bin-shared
// DATA_PLANE_NODE_FLAGS: no memory reducer, whose full GCs paused traffic for 10-25 ms), re-executing itself
// (same pid) when started without them; then glibc's mmap threshold is raised (DATA_PLANE_MMAP_THRESHOLD: the
// rings and pools made afterwards lie below 2^31, cheap addresses for koffi).
import { DATA_PLANE_MMAP_THRESHOLD, DATA_PLANE_NODE_FLAGS, reexecAtStart } from '@postern/bin-shared';

reexecAtStart('postern-tunnel-service', { nodeFlags: DATA_PLANE_NODE_FLAGS, mmapThreshold: DATA_PLANE_MMAP_THRESHOLD });
