import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, RecordType } from 'dns-packet';
export function query(name: string, type: RecordType | 'HTTPS', id = 0x1234, extra: Partial<dnsPacket.Packet> = {}): Uint8Array {
  const t = (type === 'HTTPS' ? 'UNKNOWN_65' : type) as RecordType;
  return new Uint8Array(
    dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: t, class: 'IN' }], ...extra }),
  );
}

/** A record flattened for assertions (dns-packet's OPT variant has no ttl/data). */
export interface SimpleRecord {
  readonly type: string;
  readonly name: string;
  readonly ttl: number | undefined;
  readonly data: unknown;
}

export type Decoded = Omit<DecodedPacket, 'answers'> & { rcode: string; answers: SimpleRecord[] };

function simple(a: Answer): SimpleRecord {
  return { type: a.type, name: a.name, ttl: 'ttl' in a ? a.ttl : undefined, data: 'data' in a ? a.data : undefined };
}

export function decode(bytes: Uint8Array): Decoded {
  const p = dnsPacket.decode(Buffer.from(bytes)) as DecodedPacket & { rcode: string };
  return { ...p, answers: (p.answers ?? []).map(simple) };
}

export function answer(q: Uint8Array, answers: Answer[], extra: Partial<dnsPacket.Packet> = {}): Uint8Array {
  const p = dnsPacket.decode(Buffer.from(q));
  return new Uint8Array(
    dnsPacket.encode({ id: p.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: p.questions, answers, ...extra }),
  );
}

export const SENTINEL = '100.100.111.1';
