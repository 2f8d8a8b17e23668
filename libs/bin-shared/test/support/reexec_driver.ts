// Run by test/unit/process_memory.test.ts as `node [flags] <bundle> <args>`: makes sure it runs with
// --max-semi-space-size=2 and PBS_ADDED set (re-executing itself if not), grows the young generation with a burst of surviving
// objects, and prints one JSON line: pid, execArgv, argv, an env marker and the new space's size.
import { getHeapSpaceStatistics } from 'node:v8';
import { reexecWith } from '../../src/process_memory';

reexecWith({ nodeFlags: ['--max-semi-space-size=2'], env: { PBS_ADDED: 'added' } });
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
    kept: keep.length,
    newSpaceMiB: (newSpace?.space_size ?? Number.NaN) / 1048576,
  }) + '\n',
);
