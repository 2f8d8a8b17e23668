export type {
  DatagramIn,
  OffloadSupport,
  SendQueue,
  SocketAddr,
  UdpBackend,
  UdpSocket,
  UdpSocketOptions,
  UdpStats,
} from './types';
export { SocketError, UnsupportedPlatformError, type SocketErrorCode } from './errors';
export { bindUdp, probeOffloads, POSTERN_UDP_PORT } from './bind';
export { parseSocketAddr } from './addr';
export { GsoQueue, type Batch, type GsoQueueOptions, type Transmit as GsoTransmit } from './send-queue';
