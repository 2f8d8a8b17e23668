// Builds IPv4/UDP packets for the tests (header checksum computed, UDP checksum 0 = none).

function checksum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ip4(s: string): number[] {
  return s.split('.').map(Number);
}

export function udp4(src: string, srcPort: number, dst: string, dstPort: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(28 + payload.length);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, p.length);
  p[8] = 64;
  p[9] = 17;
  p.set(ip4(src), 12);
  p.set(ip4(dst), 16);
  dv.setUint16(10, checksum(p, 0, 20));
  dv.setUint16(20, srcPort);
  dv.setUint16(22, dstPort);
  dv.setUint16(24, 8 + payload.length);
  p.set(payload, 28);
  return p;
}

/** The UDP payload of an IPv4 packet, or undefined. */
export function udp4Payload(p: Uint8Array): Uint8Array | undefined {
  if (p.length < 28 || (p[0] ?? 0) >> 4 !== 4 || p[9] !== 17) return undefined;
  const ihl = ((p[0] ?? 0) & 0x0f) * 4;
  return p.subarray(ihl + 8);
}
