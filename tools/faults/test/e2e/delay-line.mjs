// @ts-check
// A bad link in user space, for kernels without sch_netem: every packet routed through the TUN device <name> is
// dropped with a probability or written back after a delay (order kept per direction). Direction: packets to
// <down-prefix> (the first three octets of an IPv4 /24) are "down", everything else "up".
//   node delay-line.mjs <tun name> <down /24 prefix e.g. 198.18.69> <up delay ms> <up loss %> <down delay ms> <down loss %>
// Prints one JSON line of counters on SIGTERM/SIGINT.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import koffi from 'koffi';

const [name = 'dl0', prefix = '198.18.69', upDelay = '0', upLoss = '0', downDelay = '0', downLoss = '0'] = process.argv.slice(2);
const down = prefix.split('.').map(Number);
const cfg = { up: { delay: Number(upDelay), loss: Number(upLoss) / 100 }, down: { delay: Number(downDelay), loss: Number(downLoss) / 100 } };
const libc = koffi.load('libc.so.6');
const open = libc.func('int open(const char *path, int flags)');
const ioctl = libc.func('int ioctl(int fd, unsigned long req, uint8_t *arg)');
const read = libc.func('intptr_t read(int fd, _Out_ uint8_t *buf, size_t n)');
const write = libc.func('intptr_t write(int fd, const uint8_t *buf, size_t n)');
const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;

const fd = Number(open('/dev/net/tun', O_RDWR | O_NONBLOCK));
if (fd < 0) throw new Error(`open /dev/net/tun: errno ${String(koffi.errno())}`);
const ifr = Buffer.alloc(40);
ifr.write(name, 0, 'latin1');
ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI, 16);
if (Number(ioctl(fd, TUNSETIFF, ifr)) < 0) throw new Error(`TUNSETIFF ${name}: errno ${String(koffi.errno())}`);

const counters = { up: 0, upDropped: 0, down: 0, downDropped: 0 };
const buf = Buffer.alloc(65536);
const pump = () => {
  for (;;) {
    const n = Number(read(fd, buf, buf.length));
    if (n <= 0) break;
    const isDown = n >= 20 && (buf[0] ?? 0) >> 4 === 4 && buf[16] === down[0] && buf[17] === down[1] && buf[18] === down[2];
    const d = isDown ? cfg.down : cfg.up;
    if (isDown) counters.down++;
    else counters.up++;
    if (Math.random() < d.loss) {
      if (isDown) counters.downDropped++;
      else counters.upDropped++;
      continue;
    }
    const packet = Buffer.from(buf.subarray(0, n));
    if (d.delay <= 0) write(fd, packet, n);
    else setTimeout(() => write(fd, packet, n), d.delay);
  }
  setTimeout(pump, 1);
};
pump();
const stop = () => {
  process.stdout.write(`${JSON.stringify(counters)}\n`);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
