// A TCP stream with a checksum, for tests through TUN devices. Usage:
//   node tcp-stream.mjs server HOST PORT          prints {"bytes":n,"sha256":"..."} when the client is done
//   node tcp-stream.mjs client HOST PORT BYTES    sends BYTES pseudo-random bytes, prints the same JSON
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import process from 'node:process';

const [mode, host = '127.0.0.1', port = '5201', total = '0'] = process.argv.slice(2);

if (mode === 'server') {
  const server = net.createServer((sock) => {
    const h = createHash('sha256');
    let bytes = 0;
    sock.on('data', (d) => {
      h.update(d);
      bytes += d.length;
    });
    sock.on('end', () => {
      process.stdout.write(`${JSON.stringify({ bytes, sha256: h.digest('hex') })}\n`);
      sock.end();
      server.close();
    });
  });
  server.listen(Number(port), host, () => process.stdout.write('listening\n'));
} else {
  const sock = net.connect(Number(port), host, () => {
    const h = createHash('sha256');
    let left = Number(total);
    const pump = () => {
      while (left > 0) {
        const chunk = randomBytes(Math.min(left, 256 * 1024));
        left -= chunk.length;
        h.update(chunk);
        if (!sock.write(chunk)) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end();
      process.stdout.write(`${JSON.stringify({ bytes: Number(total), sha256: h.digest('hex') })}\n`);
    };
    pump();
  });
  sock.on('data', () => {});
  sock.on('error', (e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
