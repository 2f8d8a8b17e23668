// Run by test/unit/process_memory.test.ts as `node [flags] <bundle> <args>`: makes sure it runs with
// --max-semi-space-size=2, PBS_ADDED set and 256 MiB of room above malloc's heap (re-executing itself if not), grows the young generation with a burst of surviving
// objects, and prints one JSON line: pid, execArgv, argv, an env marker and the new space's size.
import { getHeapSpaceStatistics } from 'node:v8';
import { reexecWith } from '../../src/process_memory';

// PBS_BLOCKED_HEAP: the driver shows reexecWith maps in which V8's code range sits at the heap's end.
const blocked = '00400000-00b6f000 r--p 00000000 fe:00 1 /usr/bin/node\n1192b000-11b40000 rw-p 00000000 00:00 0 [heap]\n11b40000-11b42000 rw-p 00000000 00:00 0\n';
reexecWith(
  { nodeFlags: ['--max-semi-space-size=2'], env: { PBS_ADDED: 'added' }, heapRoom: 256 << 20 },
  process.env['PBS_BLOCKED_HEAP'] === undefined ? {} : { maps: () => blocked },
);
const keep: { a: number[]; s: string }[] = [];
for (let i = 0; i < 200_000; i++) keep.push({ a: [i, i + 1, i + 2, i + 3], s: `x${String(i)}` });
const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
process.stdout.write(
  JSON.stringify({
    pid: process.pid,
    execArgv: process.execArgv,
    args: process.argv.slice(2),
    mark: process.env['PBS_MARK'],
    added: process.env['PBS_ADDED'],
    heapReexec: process.env['POSTERN_HEAP_REEXEC'],
    kept: keep.length,
    newSpaceMiB: (newSpace?.space_size ?? Number.NaN) / 1048576,
  }) + '\n',
);
