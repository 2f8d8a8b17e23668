import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, RecordType } from 'dns-packet';
export function query(name: string, type: RecordType | 'HTTPS', id = 0x1234, extra: Partial<dnsPacket.Packet> = {}): Uint8Array {
  const t = (type === 'HTTPS' ? 'UNKNOWN_65' : type) as RecordType;
  return new Uint8Array(
    dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: t, class: 'IN' }], ...extra }),
  );
}

export function decode(bytes: Uint8Array): DecodedPacket & { rcode: string } {
  return dnsPacket.decode(Buffer.from(bytes)) as DecodedPacket & { rcode: string };
}

export function answer(q: Uint8Array, answers: Answer[], extra: Partial<dnsPacket.Packet> = {}): Uint8Array {
  const p = dnsPacket.decode(Buffer.from(q));
  return new Uint8Array(
    dnsPacket.encode({ id: p.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: p.questions, answers, ...extra }),
  );
}

export const SENTINEL = '100.100.111.1';
