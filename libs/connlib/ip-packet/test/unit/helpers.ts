import { IpPacket, IpPacketError, parseIp } from '../../src/index';

export function parse(bytes: Uint8Array): IpPacket {
  const p = IpPacket.parse(bytes);
  if (p instanceof IpPacketError) throw p;
  return p;
}
export function addr(s: string): Uint8Array {
  const a = parseIp(s);
  if (!a) throw new Error(`bad address ${s}`);
  return a;
}
