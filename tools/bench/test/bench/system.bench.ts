// `npx nx run bench:bench` (as root): iperf3 through veth, wireguard-go and Postern in namespaces; writes
// dist/bench/results.{json,md,png} and prints the table. BENCH_QUICK=1 (or `-- --quick`): 3 s x 1 run.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runBench } from '../../src/system';
import { writeOutputs } from '../../src/output';

const root = join(import.meta.dirname, '..', '..', '..', '..');
const quick = process.env['BENCH_QUICK'] === '1' || process.argv.includes('--quick');

it('system bench: veth vs wireguard-go vs Postern (iperf3 through whole tunnels)', async () => {
  const seconds = Number(process.env['BENCH_SECONDS'] ?? (quick ? 3 : 10));
  const runs = Number(process.env['BENCH_RUNS'] ?? (quick ? 1 : 3));
  const soakSeconds = Number(process.env['BENCH_SOAK_SECONDS'] ?? (quick ? 10 : 60));
  const idleClients = Number(process.env['BENCH_IDLE_CLIENTS'] ?? (quick ? 300 : 1000));
  const paths = process.env['BENCH_PATHS']?.split(',').filter(Boolean);
  const results = await runBench({ root, quick, seconds, runs, soakSeconds, idleClients, ...(paths === undefined ? {} : { paths }), log: (l) => process.stdout.write(l + '\n') });
  const out = await writeOutputs(results, join(root, 'dist', 'bench'));
  process.stdout.write('\n' + out.md + '\n' + `written: dist/bench/results.json, results.md, ${out.png ?? '(no png)'}\n`);
  expect(results.cases.length).toBeGreaterThan(0);
}, 1_800_000);
