import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as dnsPacket from 'dns-packet';
import { decode } from '../support/dns';
import { DnsTcpDecoder, DomainPattern, encodeTcpFrame, handleSiteQuery, mapSentinels, StubResolver } from '../../src/index';

const RUNS = Number(process.env['POSTERN_FUZZ_RUNS'] ?? 2000);
let tried = 0;

function resolver(): StubResolver {
  const s = new StubResolver({ sentinels: mapSentinels({ system: ['192.0.2.1', '2001:db8::1'] }), searchDomain: 'corp' });
  s.addResource({ id: 'a', address: '**.corp', ipStack: 'dual' });
  s.addResource({ id: 'b', address: 'app.*.corp', ipStack: 'ipv4_only' });
  s.addResource({ id: 'c', address: 'db?.corp', ipStack: 'ipv6_only' });
  return s;
}

const label = fc.stringMatching(/^[a-zA-Z0-9*?-]{1,10}$/);
const name = fc.array(fc.oneof(label, fc.constantFrom('corp', 'app', 'db1', '**')), { minLength: 1, maxLength: 5 }).map((l) => l.join('.'));
const qtype = fc.constantFrom<dnsPacket.RecordType>('A', 'AAAA', 'PTR', 'SRV', 'TXT', 'MX', 'CNAME', 'ANY' as dnsPacket.RecordType, 'UNKNOWN_65' as dnsPacket.RecordType);

function validQuery(n: string, t: dnsPacket.RecordType, id: number, flags: number): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ id, type: 'query', flags, questions: [{ name: n, type: t, class: 'IN' }] }));
}

describe('stub resolver fuzz', () => {
  afterAll(() => {
    process.stdout.write(`[fuzz] stub resolver / framing / patterns: ${tried} inputs tried\n`);
  });

  it('never throws on garbage bytes and only answers with decodable responses', () => {
    const s = resolver();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 1e9 }), (bytes, now) => {
        tried++;
        const action = s.handleQuery(bytes, '100.100.111.1', now);
        if (action.kind === 'respond') expect(() => dnsPacket.decode(Buffer.from(action.response))).not.toThrow();
        s.handleUpstreamResponse({ kind: 'do53', ip: '192.0.2.1', port: 53 }, bytes, now);
        const site = handleSiteQuery(bytes, ['**.corp']);
        if (site.kind === 'respond') expect(() => dnsPacket.decode(Buffer.from(site.response))).not.toThrow();
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on mutated valid queries', () => {
    const s = resolver();
    fc.assert(
      fc.property(
        name,
        qtype,
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.integer({ min: 0, max: 30 }),
        (n, t, id, flags, mutations, cut) => {
          tried++;
          const q = validQuery(n, t, id, flags & 0x7fff);
          for (const [at, v] of mutations) q[at % q.length] = v;
          const bytes = q.subarray(0, Math.max(0, q.length - cut));
          for (const sentinel of ['100.100.111.1', 'fd00:2021:1111:8000:100:100:111:0', '100.100.111.200']) {
            const action = s.handleQuery(bytes, sentinel, 0);
            if (action.kind === 'respond') {
              const p = dnsPacket.decode(Buffer.from(action.response));
              expect(p.type).toBe('response');
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('answers valid queries for resource names with proxy IPs of the right family only', () => {
    const s = resolver();
    fc.assert(
      fc.property(name, fc.constantFrom<dnsPacket.RecordType>('A', 'AAAA'), (n, t) => {
        tried++;
        const action = s.handleQuery(validQuery(n, t, 1, 0), '100.100.111.1', 0);
        if (action.kind !== 'respond') return;
        const p = decode(action.response);
        for (const a of p.answers) {
          if (a.type === 'CNAME') continue;
          expect(a.type).toBe(t);
          expect(typeof a.data === 'string' && s.lookupProxyIp(a.data)).toBeTruthy();
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('TCP framing reassembles any chunking of any message sequence', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }), (msgs, cuts) => {
        tried++;
        const stream = Buffer.concat(msgs.map((m) => encodeTcpFrame(m) ?? new Uint8Array()));
        const d = new DnsTcpDecoder();
        const got: Uint8Array[] = [];
        let offset = 0;
        for (let i = 0; offset < stream.length; i++) {
          const size = cuts[i % cuts.length] ?? 1;
          got.push(...d.push(stream.subarray(offset, offset + size)));
          offset += size;
        }
        expect(got.map((g) => Buffer.from(g).toString('hex'))).toEqual(msgs.map((m) => Buffer.from(m).toString('hex')));
        expect(d.pendingBytes).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('patterns never throw on match, and a wildcard-free pattern matches exactly itself', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), (pat, n) => {
        tried++;
        const p = DomainPattern.tryParse(pat);
        if (!p) return;
        p.matches(n);
        if (p.isLiteral) expect(p.matches(pat)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
