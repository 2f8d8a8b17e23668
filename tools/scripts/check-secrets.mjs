#!/usr/bin/env node
/* global process, Buffer */
// Fails when a secret that a test used appears in a log that a test produced.
//
//   node tools/scripts/check-secrets.mjs [--dir <logs dir>]... [--reset]
//
// <logs dir> defaults to $POSTERN_TEST_LOGS or dist/test-artifacts/logs. Tests write the output of the processes
// they start there (libs/testing: keepLogs / writeLog) and register every token, private key, PSK and relay
// password they use in <dir>/secrets.txt (registerSecret: `label<TAB>secret` per line). Every other file under
// each folder is searched for each secret, its URL-encoded form, its base64url form and, for base64 keys, their
// hex form. Matches are listed as `file:line: label (form)` (the secret itself is never printed); exit 1.
// --reset empties the folder first (call it before the e2e stage so that old runs do not count).
// Exit 0 with a summary (and the number of log files per suite folder) when nothing leaked; exit 2 on bad usage.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SECRETS = 'secrets.txt';
const MIN = 8;
const MAX_FILE_BYTES = 256 * 2 ** 20;

function usage(msg) {
  process.stderr.write(`check-secrets: ${msg}\nusage: node tools/scripts/check-secrets.mjs [--dir <logs dir>]... [--reset]\n`);
  process.exit(2);
}

const dirs = [];
let reset = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--reset') reset = true;
  else if (a === '--dir') {
    const d = argv[++i];
    if (d === undefined || d === '') usage('--dir needs a folder');
    dirs.push(resolve(d));
  } else if (a.startsWith('--dir=')) dirs.push(resolve(a.slice('--dir='.length)));
  else usage(`unknown argument ${JSON.stringify(a)}`);
}
if (dirs.length === 0) {
  const env = process.env.POSTERN_TEST_LOGS;
  dirs.push(env ? resolve(env) : join(ROOT, 'dist', 'test-artifacts', 'logs'));
}

if (reset) {
  for (const d of dirs) {
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, SECRETS), '', { mode: 0o600 });
  }
  process.stdout.write(`check-secrets: reset ${dirs.map((d) => relative(process.cwd(), d) || '.').join(', ')}\n`);
  process.exit(0);
}

/** The forms in which a secret could show up in a log. */
function forms(secret) {
  const out = new Map([[secret, 'as is']]);
  const add = (v, form) => {
    if (v.length >= MIN && !out.has(v)) out.set(v, form);
  };
  add(encodeURIComponent(secret), 'URL-encoded');
  add(secret.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
  add(secret.replace(/=+$/, ''), 'unpadded');
  if (/^[A-Za-z0-9+/]{43}=$/.test(secret)) add(Buffer.from(secret, 'base64').toString('hex'), 'hex');
  return out;
}

function readSecrets(dir) {
  const file = join(dir, SECRETS);
  if (!existsSync(file)) return [];
  const list = [];
  for (const [i, line] of readFileSync(file, 'utf8').split('\n').entries()) {
    if (line.trim() === '') continue;
    const tab = line.indexOf('\t');
    const label = tab < 0 ? `secret #${i + 1}` : line.slice(0, tab);
    const secret = tab < 0 ? line : line.slice(tab + 1);
    if (secret.length < MIN) continue;
    list.push({ label, forms: forms(secret) });
  }
  return list;
}

/** Every regular file under `dir`, except the root's secrets list. */
function* files(dir, root = dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p, root);
    else if (e.isFile() && p !== join(root, SECRETS)) yield p;
  }
}

let leaks = 0;
let scanned = 0;
/** Files per suite folder (the first path component under a logs dir), to show which suites kept logs. */
const perSuite = new Map();
let secretsTotal = 0;
for (const dir of dirs) {
  if (!existsSync(dir)) {
    process.stdout.write(`check-secrets: ${relative(process.cwd(), dir)} does not exist (no e2e logs kept): nothing to check\n`);
    continue;
  }
  const secrets = readSecrets(dir);
  secretsTotal += secrets.length;
  for (const file of files(dir)) {
    if (statSync(file).size > MAX_FILE_BYTES) {
      process.stdout.write(`check-secrets: ${relative(process.cwd(), file)}: larger than 256 MiB, checked in part\n`);
    }
    scanned++;
    const parts = relative(dir, file).split(sep);
    const suite = parts.length > 1 ? parts[0] : '.';
    perSuite.set(suite, (perSuite.get(suite) ?? 0) + 1);
    const text = readFileSync(file).subarray(0, MAX_FILE_BYTES).toString('utf8');
    if (secrets.length === 0) continue;
    const lines = text.split('\n');
    for (const [n, line] of lines.entries()) {
      for (const s of secrets) {
        for (const [value, form] of s.forms) {
          if (!line.includes(value)) continue;
          leaks++;
          process.stdout.write(`${relative(process.cwd(), file)}:${n + 1}: ${s.label} (${form})\n`);
          break;
        }
      }
    }
  }
}
if (leaks > 0) {
  process.stdout.write(`check-secrets: ${leaks} secret(s) found in logs (${scanned} files, ${secretsTotal} secrets)\n`);
  process.exit(1);
}
process.stdout.write(`check-secrets: no secret in ${scanned} log files (${secretsTotal} secrets registered)\n`);
if (perSuite.size > 0) {
  const list = [...perSuite].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`);
  process.stdout.write(`check-secrets: log files per suite: ${list.join(', ')}\n`);
}
