// @ts-check
// A DoH server of the tests' own (RFC 8484 over HTTP/2 + TLS), answering from a small zone, plus (with
// --dns53) a plain UDP DNS server on port 53 that resolves the DoH host name (the client's bootstrap).
// Every request is printed as one JSON line: {"doh": {method, path, type, id, name}}.
//
//   node doh-server.mjs --listen 198.18.20.2 --port 443 --cert c.pem --key k.pem [--host doh.pdnh.test] [--dns53]
//
// Zone (suffix .pdnh.test): www -> A 198.18.20.80; big -> 30 TXT records of 200 bytes (6.5 KB);
// malformed -> a body that is not DNS; status -> HTTP 500; html -> text/html; slow -> never answers;
// badid -> an answer with id 4242; anything else NXDOMAIN. The DoH host -> A <listen address>.
import { Buffer } from 'node:buffer';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import process from 'node:process';
import { parseArgs } from 'node:util';
import dnsPacket from 'dns-packet';

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    cert: { type: 'string' },
    key: { type: 'string' },
    host: { type: 'string', default: 'doh.pdnh.test' },
    dns53: { type: 'boolean', default: false },
  },
});
const listen = values.listen ?? '127.0.0.1';
const host = values.host ?? 'doh.pdnh.test';

/**
 * @param {dnsPacket.DecodedPacket} q
 * @returns {dnsPacket.Answer[] | undefined} answers, or undefined for NXDOMAIN
 */
function zone(q) {
  const question = q.questions?.[0];
  const name = (question?.name ?? '').toLowerCase();
  if (name === host) return question?.type === 'A' ? [{ type: 'A', name, ttl: 300, data: listen }] : [];
  if (name === 'www.pdnh.test') return question?.type === 'A' ? [{ type: 'A', name, ttl: 60, data: '198.18.20.80' }] : [];
  if (name.endsWith('big.pdnh.test')) return Array.from({ length: 30 }, (_, i) => ({ type: /** @type {const} */ ('TXT'), name, ttl: 60, data: `${String(i).padStart(2, '0')}${'x'.repeat(198)}` }));
  return undefined;
}

/** @param {dnsPacket.DecodedPacket} q @param {number} id */
function answer(q, id) {
  const answers = zone(q);
  return dnsPacket.encode({ id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (answers === undefined ? 3 : 0), questions: q.questions ?? [], answers: answers ?? [] });
}

const server = createSecureServer({ cert: readFileSync(values.cert ?? ''), key: readFileSync(values.key ?? ''), allowHTTP1: true }, (req, res) => {
  /** @type {Buffer[]} */
  const chunks = [];
  req.on('data', (/** @type {Buffer} */ c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    /** @type {dnsPacket.DecodedPacket | undefined} */
    let q;
    try {
      q = dnsPacket.decode(body);
    } catch {
      q = undefined;
    }
    const name = (q?.questions?.[0]?.name ?? '').toLowerCase();
    process.stdout.write(`${JSON.stringify({ doh: { method: req.method, path: req.url, type: req.headers['content-type'], id: q?.id, name } })}\n`);
    if (q === undefined || req.method !== 'POST') {
      res.writeHead(400).end();
      return;
    }
    const label = name.split('.')[0];
    if (label === 'slow') return; // never answers
    if (label === 'status') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
      return;
    }
    if (label === 'html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
      return;
    }
    const out = label === 'malformed' ? Buffer.from('this is not a DNS message at all') : answer(q, label === 'badid' ? 4242 : (q.id ?? 0));
    res.writeHead(200, { 'content-type': 'application/dns-message', 'content-length': String(out.byteLength) }).end(out);
  });
});
server.listen(Number(values.port), listen, () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ listening: typeof a === 'object' && a !== null ? a.port : 0 })}\n`);
});

if (values.dns53) {
  const udp = createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    try {
      const q = dnsPacket.decode(msg);
      process.stdout.write(`${JSON.stringify({ do53: { name: q.questions?.[0]?.name, type: q.questions?.[0]?.type } })}\n`);
      udp.send(answer(q, q.id ?? 0), rinfo.port, rinfo.address);
    } catch {
      // not DNS: ignore
    }
  });
  udp.bind(53, listen);
}
