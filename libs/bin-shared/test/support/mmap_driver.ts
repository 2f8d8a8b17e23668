// Run by test/unit/process_memory.test.ts as `node <bundle>` (a fresh process, glibc's default mmap threshold):
// re-executes itself once if malloc's heap has no room to grow (heapRoom), then prints the address of a 16 MiB SharedArrayBuffer (a ring's size) made before and after
// setMmapThreshold(DATA_PLANE_MMAP_THRESHOLD), and what glibc answered. koffi passes a view as the address of its
// first byte; memmove(p, p, 0) returns it.
import koffi from 'koffi';
import { readFileSync } from 'node:fs';
import { DATA_PLANE_HEAP_ROOM, DATA_PLANE_MMAP_THRESHOLD, heapRoom, reexecWith, setMmapThreshold } from '../../src/process_memory';

// As the apps do (DATA_PLANE_PROCESS): a start whose heap cannot grow re-executes once.
reexecWith({ heapRoom: DATA_PLANE_HEAP_ROOM });

const memmove = koffi.load('libc.so.6').func('uintptr_t memmove(void *dst, void *src, size_t n)') as (a: Uint8Array, b: Uint8Array, n: number) => number | bigint;
const addressOfRing = (): number => {
  const ring = new Uint8Array(new SharedArrayBuffer(16 << 20));
  return Number(memmove(ring, ring, 0));
};
const before = addressOfRing();
const accepted = setMmapThreshold(DATA_PLANE_MMAP_THRESHOLD);
const after = addressOfRing();
const room = heapRoom(readFileSync('/proc/self/maps', 'utf8'));
process.stdout.write(JSON.stringify({ before, accepted, after, room: String(room), retried: process.env['POSTERN_HEAP_REEXEC'] === '1' }) + '\n');
