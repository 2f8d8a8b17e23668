// sd_notify(3) without libsystemd: one datagram to the AF_UNIX socket named by NOTIFY_SOCKET (a path, or
// `@name` for the abstract namespace). Node's dgram has no AF_UNIX, so the socket is made through koffi.
import koffi from 'koffi';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SUN_PATH_MAX = 108;

interface NotifyLibc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: number): number;
  close(fd: number): number;
  errno(): number;
}

let libc: NotifyLibc | undefined;
function load(): NotifyLibc {
  if (libc !== undefined) return libc;
  const lib = koffi.load('libc.so.6');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const sendto = lib.func('intptr_t sendto(int fd, const uint8_t *buf, size_t len, int flags, const uint8_t *addr, uint32_t alen)');
  const close = lib.func('int close(int fd)');
  const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : Number(v));
  libc = {
    socket: (d, t, p) => num(socket(d, t, p)),
    sendto: (fd, b, l, f, a, al) => num(sendto(fd, b, l, f, a, al)),
    close: (fd) => num(close(fd)),
    errno: () => koffi.errno(),
  };
  return libc;
}

/** sockaddr_un for a NOTIFY_SOCKET value; the length excludes unused path bytes (abstract names need that). */
export function sockaddrUn(path: string): { addr: Uint8Array; len: number } {
  const abstract = path.startsWith('@');
  const name = Buffer.from(abstract ? path.slice(1) : path, 'utf8');
  const pathLen = name.length + 1; // leading NUL (abstract) or trailing NUL (path)
  if (pathLen > SUN_PATH_MAX) throw new Error(`NOTIFY_SOCKET path is too long (${String(name.length)} bytes)`);
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  return { addr, len: abstract ? 2 + pathLen : 2 + pathLen };
}

/**
 * Sends `state` (e.g. `READY=1`, `STOPPING=1`, `STATUS=...`) to systemd. Returns false when NOTIFY_SOCKET is
 * not set (not started by systemd); throws when the datagram cannot be sent.
 */
export function sdNotify(state: string, env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const path = env['NOTIFY_SOCKET'];
  if (path === undefined || path === '') return false;
  const c = load();
  const { addr, len } = sockaddrUn(path);
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`sd_notify: socket failed (errno ${String(c.errno())})`);
  try {
    const msg = Buffer.from(state, 'utf8');
    const n = c.sendto(fd, msg, msg.length, 0, addr, len);
    if (n < 0) throw new Error(`sd_notify: sendto ${path} failed (errno ${String(c.errno())})`);
    return true;
  } finally {
    c.close(fd);
  }
}
