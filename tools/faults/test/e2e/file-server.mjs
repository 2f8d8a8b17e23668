// @ts-check
// The fault suites' resource: serves the files of a folder over HTTP (node file-server.mjs <host> <port> <dir>).
// `?rate=<bytes per second>` paces the response on the server side (16 KiB chunks), so that a download really is
// on the wire, not already sitting in the client's socket buffer, when a fault hits it.
import { Buffer } from 'node:buffer';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, join } from 'node:path';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import { URL } from 'node:url';
import { performance } from 'node:perf_hooks';

const [host = '0.0.0.0', port = '80', dir = '.'] = process.argv.slice(2);
createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const name = basename(decodeURIComponent(url.pathname));
  const rate = Number(url.searchParams.get('rate') ?? '0');
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
  if (!(rate > 0)) {
    createReadStream(path).pipe(res);
    return;
  }
  const data = readFileSync(path);
  const chunk = 16 * 1024;
  const start = performance.now();
  let sent = 0;
  const next = () => {
    if (res.destroyed) return;
    if (sent >= data.length) {
      res.end();
      return;
    }
    const end = Math.min(data.length, sent + chunk);
    res.write(data.subarray(sent, end));
    sent = end;
    setTimeout(next, Math.max(0, start + (sent / rate) * 1000 - performance.now()));
  };
  next();
}).listen(Number(port), host);
