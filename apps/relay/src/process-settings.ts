// Imported first by main.ts, so that it runs before the rest of the bundle is evaluated: the relay forwards
// tunnel traffic, so it runs with the data plane's V8 flags (@postern/bin-shared DATA_PLANE_NODE_FLAGS: no memory
// reducer, whose full GCs paused traffic for 10-25 ms), re-executing itself (same pid) when started without them
// (`node main.js`); the installed binary's #! line has them (package.json#postern.nodeFlags).
import { DATA_PLANE_NODE_FLAGS, reexecAtStart } from '@postern/bin-shared';

reexecAtStart('postern-relay', { nodeFlags: DATA_PLANE_NODE_FLAGS });
