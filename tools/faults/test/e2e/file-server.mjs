// @ts-check
// The fault suites' resource: serves the files of a folder over HTTP (node file-server.mjs <host> <port> <dir>).
import { Buffer } from 'node:buffer';
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, join } from 'node:path';
import process from 'node:process';

const [host = '0.0.0.0', port = '80', dir = '.'] = process.argv.slice(2);
createServer((req, res) => {
  const name = basename(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/'));
  if (name === '' || name === '/') {
    const body = `hello from ${host} (you are ${req.socket.remoteAddress ?? '?'})\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }).end(body);
    return;
  }
  const path = join(dir, name);
  let size;
  try {
    size = statSync(path).size;
  } catch {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  createReadStream(path).pipe(res);
}).listen(Number(port), host);
