import { workerGcStatsFromEnv } from '@postern/bufferpool';
import { openBatched } from './batched';
import { openDgram } from './dgram-backend';
import { SocketError, UnsupportedPlatformError } from './errors';
import { AF_INET, AF_INET6 } from './sockaddr';
import { SOCK_CLOEXEC, SOCK_DGRAM, SOL_UDP, UDP_GRO, UDP_SEGMENT, socketLibc } from './libc';
import type { OffloadSupport, UdpSocket, UdpSocketOptions } from './types';

/** Postern's (Firezone's) default UDP port. */
export const POSTERN_UDP_PORT = 52625;

let probed: OffloadSupport | undefined;

/** GSO/GRO support of the running kernel (probed once on a throwaway socket, cached). Linux only. */
export function probeOffloads(): OffloadSupport {
  if (probed !== undefined) return probed;
  if (process.platform !== 'linux') {
    probed = { gso: false, gro: false, maxSegments: 1 };
    return probed;
  }
  const c = socketLibc();
  let fd = c.socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    probed = { gso: false, gro: false, maxSegments: 1 };
    return probed;
  }
  const gso = c.getsockoptInt(fd, SOL_UDP, UDP_SEGMENT) !== undefined;
  const gro = c.setsockoptInt(fd, SOL_UDP, UDP_GRO, 1) === 0;
  c.close(fd);
  // UDP_MAX_SEGMENTS is 64 before Linux 5.x-era "128"; 64 is safe everywhere and already amortises the call.
  probed = { gso, gro, maxSegments: gso ? 64 : 1 };
  return probed;
}

/**
 * Binds a UDP socket. Backend `auto` picks the batched koffi backend on Linux (GSO/GRO where the kernel has
 * them) and node:dgram elsewhere; `batched` on a non-Linux platform rejects with UNSUPPORTED_PLATFORM.
 */
export async function bindUdp(options: UdpSocketOptions = {}): Promise<UdpSocket> {
  const dualStack = options.dualStack ?? (options.address === undefined || options.address === '::');
  const address = options.address ?? (dualStack ? '::' : '0.0.0.0');
  const port = options.port ?? POSTERN_UDP_PORT;
  // 64 slots of up to 64 KiB (GRO): 4 MiB in flight besides the kernel's socket buffer (types.ts: why not more)
  const recvCapacity = options.recvCapacity ?? 64;
  if ((recvCapacity & (recvCapacity - 1)) !== 0 || recvCapacity < 2) throw new SocketError('INVALID_ARGUMENT', `recvCapacity must be a power of two (got ${recvCapacity})`);
  const want = options.backend ?? 'auto';
  const linux = process.platform === 'linux';
  if (want === 'batched' && !linux) throw new UnsupportedPlatformError(process.platform, 'batched UDP (recvmmsg/sendmmsg)');
  const common = {
    address,
    port,
    portFallback: options.portFallback ?? true,
    dualStack,
    sendBufferSize: options.sendBufferSize,
    recvBufferSize: options.recvBufferSize,
    recvCapacity,
    pool: options.pool,
    logger: options.logger,
  };
  if (want === 'dgram' || !linux) {
    if (options.mark !== undefined) throw new SocketError('INVALID_ARGUMENT', 'SO_MARK needs the batched backend (node:dgram cannot set it)');
    return openDgram(common);
  }
  const offloads = probeOffloads();
  return openBatched({
    ...common,
    gso: (options.gso ?? true) && offloads.gso,
    gro: (options.gro ?? true) && offloads.gro,
    maxSegments: offloads.maxSegments,
    mark: options.mark,
    maxDatagramSize: options.maxDatagramSize ?? 1500,
    gcStats: options.gcStats ?? workerGcStatsFromEnv(),
  });
}
