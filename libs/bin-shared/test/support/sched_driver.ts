// Run by test/unit/scheduling.test.ts as `node <bundle>`: reads every thread's policy, takes the start step the
// apps take (schedulingAtStart, 'batch' unless POSTERN_SCHED_POLICY says otherwise), starts a worker thread
// afterwards, and prints every thread's policy before and after as JSON (thread id -> sched_getscheduler).
import { Worker } from 'node:worker_threads';
import { ownThreadIds, schedulingAtStart, threadPolicy } from '../../src/scheduling';

const policies = (): Record<string, number> => Object.fromEntries(ownThreadIds().map((t) => [String(t), threadPolicy(t)]));
const before = policies();
const result = schedulingAtStart('postern-x', 'batch');
const worker = new Worker('require("node:worker_threads").parentPort.postMessage("up"); setInterval(() => {}, 1000);', { eval: true });
worker.once('message', () => {
  const after = policies();
  process.stdout.write(JSON.stringify({ before, after, result: result instanceof Error ? `error ${result.message}` : (result ?? null) }) + '\n');
  void worker.terminate();
});
