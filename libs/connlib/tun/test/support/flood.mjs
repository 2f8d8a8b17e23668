// Sends UDP datagrams to host:port as fast as it can until killed (errors such as ENETUNREACH are ignored,
// so it keeps going while the device under test is recreated). Usage: node flood.mjs host port size
import dgram from 'node:dgram';
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { setImmediate } from 'node:timers';

const [host = '198.18.8.2', port = '9', size = '1200'] = process.argv.slice(2);
const sock = dgram.createSocket('udp4');
sock.on('error', () => {});
const payload = Buffer.alloc(Number(size), 0x5a);
let inflight = 0;
function pump() {
  while (inflight < 256) {
    inflight++;
    sock.send(payload, Number(port), host, () => {
      inflight--;
    });
  }
  setImmediate(pump);
}
pump();
