// Which queue a packet goes to: a hash of the flow (addresses, protocol, ports) so one flow keeps its order.
// Reads fields in place; no allocation.

/** Queue index in [0, queues) for an IPv4/IPv6 packet; 0 for anything unparseable or when queues is 1. */
export function flowQueue(packet: Uint8Array, queues: number): number {
  if (queues <= 1 || packet.length < 1) return 0;
  const version = (packet[0] ?? 0) >> 4;
  let h = 0x811c9dc5;
  let proto = 0;
  let l4 = 0;
  if (version === 4 && packet.length >= 20) {
    for (let i = 12; i < 20; i++) h = Math.imul(h ^ (packet[i] ?? 0), 0x01000193);
    proto = packet[9] ?? 0;
    l4 = ((packet[0] ?? 0) & 0x0f) * 4;
  } else if (version === 6 && packet.length >= 40) {
    for (let i = 8; i < 40; i++) h = Math.imul(h ^ (packet[i] ?? 0), 0x01000193);
    proto = packet[6] ?? 0;
    l4 = 40;
  } else {
    return 0;
  }
  h = Math.imul(h ^ proto, 0x01000193);
  if ((proto === 6 || proto === 17) && packet.length >= l4 + 4) {
    for (let i = l4; i < l4 + 4; i++) h = Math.imul(h ^ (packet[i] ?? 0), 0x01000193);
  }
  return (h >>> 0) % queues;
}
