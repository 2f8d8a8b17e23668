import { UnsupportedPlatformError } from './errors';
import type { OffloadSupport, UdpSocket, UdpSocketOptions } from './types';

/** Postern's (Firezone's) default UDP port. */
export const POSTERN_UDP_PORT = 52625;

/** Binds a UDP socket: batched koffi backend where available (Linux), node:dgram otherwise. */
export function bindUdp(_options: UdpSocketOptions = {}): Promise<UdpSocket> {
  return Promise.reject(new UnsupportedPlatformError(process.platform, 'UDP socket (not implemented yet)'));
}

/** GSO/GRO support of the running kernel (probed once, cached). */
export function probeOffloads(): OffloadSupport {
  return { gso: false, gro: false, maxSegments: 1 };
}
