// Packets for tests from short specs: `udp 100.64.0.1:5401 -> 10.0.0.1:80`, `tcp -> :443`,
// `udp [fd00::1]:1 -> [fd00::2]:80`, `icmp 100.64.0.1 -> 10.0.0.1` (echo request).
import { buildEchoRequest, buildTcp, buildUdp, parseIp, parseIpPacket, IpPacket, type IpAddrBytes } from '@postern/ip-packet';

export const CLIENT_V4 = '100.64.0.1';
export const CLIENT_V6 = 'fd00:2021:1111::1';
export const GATEWAY_V4 = '100.64.0.2';
export const GATEWAY_V6 = 'fd00:2021:1111::2';

export function ip(text: string): IpAddrBytes {
  const a = parseIp(text);
  if (a === undefined) throw new Error(`bad ip ${text}`);
  return a;
}

function endpoint(text: string | undefined): { host: string | undefined; port: number } {
  if (text === undefined || text === '') return { host: undefined, port: 0 };
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    return { host: text.slice(1, end), port: Number(text.slice(end + 2) || '0') };
  }
  if (text.includes(':') && text.split(':').length === 2) {
    const [h, p] = text.split(':');
    return { host: h === '' ? undefined : h, port: Number(p) };
  }
  return { host: text, port: 0 };
}

export interface PacketSpecDefaults {
  readonly src4?: string;
  readonly src6?: string;
  readonly dst4?: string;
  readonly srcPort?: number;
}

/** Builds a packet from a spec; missing source = the client's tunnel IP of the destination's family. */
export function packet(spec: string, defaults: PacketSpecDefaults = {}): Uint8Array {
  const m = /^(tcp|udp|icmp)\s*(\S*)\s*->\s*(\S+)$/.exec(spec.trim());
  if (m === null) throw new Error(`bad packet spec ${spec}`);
  const proto = m[1];
  const src = endpoint(m[2]);
  const dst = endpoint(m[3]);
  const dstHost = dst.host ?? defaults.dst4 ?? '10.0.0.1';
  const v6 = dstHost.includes(':');
  const source = ip(src.host ?? (v6 ? (defaults.src6 ?? CLIENT_V6) : (defaults.src4 ?? CLIENT_V4)));
  const destination = ip(dstHost);
  const sourcePort = src.port || (defaults.srcPort ?? 40000);
  switch (proto) {
    case 'tcp':
      return buildTcp({ source, destination, sourcePort, destinationPort: dst.port });
    case 'udp':
      return buildUdp({ source, destination, sourcePort, destinationPort: dst.port, payload: new Uint8Array([1, 2, 3]) });
    default:
      return buildEchoRequest({ source, destination, id: 7, seq: 1 });
  }
}

export function parsed(bytes: Uint8Array): IpPacket {
  const p = parseIpPacket(bytes);
  if (p instanceof Error) throw p;
  return p;
}
