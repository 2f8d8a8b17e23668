#!/usr/bin/env node
// `npm test`: the whole suite — lint, typecheck, unit tests, fuzz and e2e of every project — through Nx,
// ending with one line `N passed, N failed[, N skipped]`.
// Lint and typecheck count one check per project; test/fuzz/e2e count the tests Vitest ran (read from the
// JSON reports each project writes to dist/test-results). A task that failed without a report counts as
// one failure, so a crash never hides.
// Options: --skip-e2e (no real-network tests), --only <target,...>, extra args are passed to nx.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(import.meta.dirname, '..', '..');
const { values } = parseArgs({
  options: {
    'skip-e2e': { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const resultsDir = join(root, 'dist', 'test-results');
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });

const nx = join(root, 'node_modules', '.bin', 'nx');
const env = { ...process.env, POSTERN_TEST_RESULTS: resultsDir, NX_DAEMON: 'false', FORCE_COLOR: '0', NX_TUI: 'false' };

function projectsWith(target) {
  const r = spawnSync(nx, ['show', 'projects', '--with-target', target, '--json'], { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nx show projects failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// Streams nx's output as it comes (a long suite must show progress) and keeps it to find the failed tasks.
async function runTargets(targets, parallel) {
  const args = ['run-many', '-t', ...targets, `--parallel=${parallel}`, '--nxBail=false', '--skip-nx-cache', '--outputStyle=stream'];
  console.log(`\n$ nx ${args.join(' ')}`);
  const child = spawn(nx, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d) => {
    text += d;
    process.stdout.write(d);
  });
  child.stderr.on('data', (d) => {
    text += d;
    process.stderr.write(d);
  });
  const status = await new Promise((resolve) => child.on('close', resolve));
  const failed = new Set();
  const section = text.split(/Failed tasks:/)[1] ?? '';
  for (const m of section.matchAll(/^\s*-\s+([\w-]+):([\w-]+)/gm)) failed.add(`${m[1]}:${m[2]}`);
  if (status !== 0 && failed.size === 0) failed.add('nx:run-many');
  return failed;
}

const wanted = values.only ? values.only.split(',') : ['lint', 'typecheck', 'test', 'fuzz', 'e2e'];
const staticTargets = wanted.filter((t) => t === 'lint' || t === 'typecheck');
const testTargets = wanted.filter((t) => t === 'test' || t === 'fuzz');
const e2eTargets = wanted.filter((t) => t === 'e2e' && !values['skip-e2e']);

let passed = 0;
let failedCount = 0;
let skipped = 0;
const failures = [];

function countStatic(targets, failed) {
  for (const t of targets) {
    for (const p of projectsWith(t)) {
      if (failed.has(`${p}:${t}`)) {
        failedCount++;
        failures.push(`${p}:${t}`);
      } else passed++;
    }
  }
}

function countVitest(targets, failed) {
  for (const t of targets) {
    for (const p of projectsWith(t)) {
      const file = join(resultsDir, `${p}.${t}.json`);
      if (!existsSync(file)) {
        if (failed.has(`${p}:${t}`) || failed.has('nx:run-many')) {
          failedCount++;
          failures.push(`${p}:${t} (no report)`);
        }
        continue;
      }
      const report = JSON.parse(readFileSync(file, 'utf8'));
      passed += report.numPassedTests ?? 0;
      failedCount += report.numFailedTests ?? 0;
      skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
      if ((report.numFailedTests ?? 0) > 0) failures.push(`${p}:${t} (${report.numFailedTests} failed)`);
      else if (failed.has(`${p}:${t}`) && (report.numFailedTestSuites ?? 0) > 0) {
        failedCount += report.numFailedTestSuites;
        failures.push(`${p}:${t} (${report.numFailedTestSuites} suites failed to load)`);
      } else if (failed.has(`${p}:${t}`)) {
        failedCount++;
        failures.push(`${p}:${t} (task failed)`);
      }
    }
  }
}

if (staticTargets.length) countStatic(staticTargets, await runTargets(staticTargets, 2));
if (testTargets.length) countVitest(testTargets, await runTargets(testTargets, 2));
// Secrets never logged: e2e suites keep the logs of the processes they start and register the tokens, keys and
// passwords they use (libs/testing logs.ts); check-secrets greps every kept log for them (one check).
const checkSecrets = (args) => spawnSync(process.execPath, [join(root, 'tools/scripts/check-secrets.mjs'), ...args], { stdio: 'inherit' }).status;
if (e2eTargets.length) {
  checkSecrets(['--reset']);
  countVitest(e2eTargets, await runTargets(e2eTargets, 1));
  if (checkSecrets([]) === 0) passed++;
  else {
    failedCount++;
    failures.push('check-secrets (a secret appears in an e2e log)');
  }
}

if (failures.length) console.log(`\nfailures:\n${failures.map((f) => `  ${f}`).join('\n')}`);
console.log(`\n${passed} passed, ${failedCount} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failedCount > 0 || passed === 0 ? 1 : 0);
