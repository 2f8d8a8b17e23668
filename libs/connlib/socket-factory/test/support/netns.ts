// Test support: run this process's main thread inside a network namespace (setns), so that TUN devices and
// sockets it creates (and workers/children it starts meanwhile) live there.
import koffi from 'koffi';

const CLONE_NEWNET = 0x40000000;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;

const lib = koffi.load('libc.so.6');
const open = lib.func('int open(const char *path, int flags)');
const close = lib.func('int close(int fd)');
const setns = lib.func('int setns(int fd, int nstype)');

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

function enter(path: string): void {
  const fd = num(open(path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) throw new Error(`open ${path}: errno ${koffi.errno()}`);
  const r = num(setns(fd, CLONE_NEWNET));
  const e = koffi.errno();
  close(fd);
  if (r < 0) throw new Error(`setns ${path}: errno ${e}`);
}

/** Moves the main thread into namespace `name`; returns a function that moves it back. */
export function enterNetns(name: string): () => void {
  const home = num(open('/proc/self/ns/net', O_RDONLY | O_CLOEXEC));
  if (home < 0) throw new Error(`open /proc/self/ns/net: errno ${koffi.errno()}`);
  try {
    enter(`/run/netns/${name}`);
  } catch (err) {
    close(home);
    throw err;
  }
  return () => {
    const r = num(setns(home, CLONE_NEWNET));
    close(home);
    if (r < 0) throw new Error(`setns back: errno ${koffi.errno()}`);
  };
}
