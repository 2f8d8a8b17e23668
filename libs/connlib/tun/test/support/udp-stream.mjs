// UDP datagrams whose contents can be checked, for tests through TUN devices. Usage:
//   node udp-stream.mjs server HOST PORT               prints "listening", then {"received":n,"bad":n,"bytes":n}
//                                                      after the client's END (or 3 s without a datagram)
//   node udp-stream.mjs client HOST PORT COUNT SIZE    sends COUNT datagrams of SIZE bytes of one flow in bursts
//                                                      of 32, then END; prints {"sent":COUNT}
// Datagram i carries i (4 bytes) then bytes derived from i, so a datagram the path changed is counted as bad.
import dgram from 'node:dgram';
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { clearTimeout, setImmediate, setTimeout } from 'node:timers';

const [mode, host = '127.0.0.1', port = '5202', countArg = '1000', sizeArg = '1200'] = process.argv.slice(2);

/** @param {Uint8Array} b @param {number} i */
function fill(b, i) {
  new DataView(b.buffer, b.byteOffset).setUint32(0, i);
  for (let k = 4; k < b.length; k++) b[k] = (i * 31 + k) & 0xff;
}

/** @param {Uint8Array} b */
function good(b) {
  if (b.length < 4) return false;
  const i = new DataView(b.buffer, b.byteOffset).getUint32(0);
  for (let k = 4; k < b.length; k++) if (b[k] !== ((i * 31 + k) & 0xff)) return false;
  return true;
}

if (mode === 'server') {
  const sock = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
  let received = 0;
  let bad = 0;
  let bytes = 0;
  /** @type {NodeJS.Timeout | undefined} */
  let idle;
  const done = () => {
    process.stdout.write(`${JSON.stringify({ received, bad, bytes })}\n`);
    sock.close();
  };
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(done, 3000);
  };
  sock.on('message', (m) => {
    if (m.length === 3 && m.toString() === 'END') {
      clearTimeout(idle);
      setTimeout(done, 200);
      return;
    }
    received++;
    bytes += m.length;
    if (!good(m)) bad++;
    arm();
  });
  sock.bind(Number(port), host, () => process.stdout.write('listening\n'));
} else {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const count = Number(countArg);
  const size = Number(sizeArg);
  let next = 0;
  const burst = () => {
    for (let n = 0; n < 32 && next < count; n++, next++) {
      const b = Buffer.alloc(size);
      fill(b, next);
      sock.send(b, Number(port), host);
    }
    if (next < count) {
      setImmediate(burst);
      return;
    }
    setTimeout(() => {
      for (let n = 0; n < 3; n++) sock.send(Buffer.from('END'), Number(port), host);
      setTimeout(() => {
        process.stdout.write(`${JSON.stringify({ sent: count })}\n`);
        sock.close();
      }, 100);
    }, 300);
  };
  burst();
}
