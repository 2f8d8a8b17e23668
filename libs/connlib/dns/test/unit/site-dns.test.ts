import { describe, expect, it } from 'vitest';
import * as dnsPacket from 'dns-packet';
import { handleSiteQuery, type SiteQueryAction } from '../../src/index';
import { decode, query } from '../support/dns';

function rcode(a: SiteQueryAction): string {
  if (a.kind !== 'respond') throw new Error(a.kind);
  return decode(a.response).rcode;
}

describe('site DNS server (gateway port 53535)', () => {
  const allowed = ['**.corp.internal', 'a**b.bad'];

  it('resolves SRV and TXT of names covered by an authorised resource', () => {
    const q = query('_ldap._tcp.DC.corp.internal', 'SRV');
    expect(handleSiteQuery(q, allowed)).toEqual({ kind: 'resolve', name: '_ldap._tcp.dc.corp.internal', qtype: 'SRV', query: q });
    expect(handleSiteQuery(query('corp.internal', 'TXT'), allowed).kind).toBe('resolve');
  });

  it('refuses names outside the authorised resources and other record types', () => {
    expect(rcode(handleSiteQuery(query('example.com', 'TXT'), allowed))).toBe('REFUSED');
    expect(rcode(handleSiteQuery(query('app.corp.internal', 'A'), allowed))).toBe('REFUSED');
    expect(rcode(handleSiteQuery(query('app.corp.internal', 'TXT'), []))).toBe('REFUSED');
  });

  it('answers FORMERR / NOTIMP and drops garbage and responses', () => {
    expect(rcode(handleSiteQuery(query('x.corp.internal', 'SRV').slice(0, 20), allowed))).toBe('FORMERR');
    expect(handleSiteQuery(new Uint8Array(3), allowed).kind).toBe('drop');
    const resp = new Uint8Array(dnsPacket.encode({ id: 1, type: 'response', questions: [{ type: 'TXT', name: 'a.corp.internal' }] }));
    expect(handleSiteQuery(resp, allowed).kind).toBe('drop');
    const update = new Uint8Array(dnsPacket.encode({ id: 1, type: 'query', flags: 5 << 11, questions: [{ type: 'SOA', name: 'corp.internal' }] }));
    expect(rcode(handleSiteQuery(update, allowed))).toBe('NOTIMP');
  });
});
