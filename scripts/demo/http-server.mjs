// The demo's resource: a tiny web page on the lab network (198.18.101.10:80).
import { createServer } from 'node:http';

const host = process.argv[2] ?? '0.0.0.0';
const port = Number(process.argv[3] ?? '80');
createServer((req, res) => {
  const body = `<!doctype html><title>Postern demo</title><h1>Hello from the lab network</h1><p>You reached ${host}:${port}${req.url ?? '/'} through the Postern tunnel (from ${req.socket.remoteAddress ?? '?'}).</p>\n`;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(port, host);
