// Run by test/unit/process_memory.test.ts as `node <bundle>` (a fresh process: few malloc arenas): a thread
// mallocs 50 MB in 2000-byte blocks (below the mmap threshold: they live in its arena) and a small block above
// them that stays, then frees the others. free() gives back only an arena's top, so the hole stays resident
// until malloc_trim(0), which walks every arena (free() sometimes returns part of it). Prints the RSS before the
// mallocs, after the frees and after trimMalloc().
import { Worker } from 'node:worker_threads';
import { trimMalloc } from '../../src/process_memory';

const THREAD = `
  const { parentPort } = require('node:worker_threads');
  const lib = require('koffi').load('libc.so.6');
  const malloc = lib.func('void *malloc(size_t size)');
  const free = lib.func('void free(void *ptr)');
  const memset = lib.func('void *memset(void *s, int c, size_t n)');
  const base = process.memoryUsage().rss;
  const blocks = [];
  for (let i = 0; i < 25000; i++) { const p = malloc(2000); memset(p, 1, 2000); blocks.push(p); }
  const guard = malloc(64);
  for (const p of blocks) free(p);
  parentPort.postMessage(base);
  parentPort.once('message', () => { free(guard); parentPort.close(); });
`;

const worker = new Worker(THREAD, { eval: true });
worker.once('message', (base: number) => {
  const freed = process.memoryUsage().rss;
  const released = trimMalloc();
  const trimmed = process.memoryUsage().rss;
  process.stdout.write(JSON.stringify({ base, freed, trimmed, released }) + '\n');
  worker.postMessage('done');
});
