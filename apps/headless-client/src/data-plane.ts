// The data plane's start (issue 11: set-up time): the UDP socket and the TUN device (each with its worker
// threads), the route towards the portal and DNS control start opening at once, concurrently, before the rest of
// the client is even loaded (main.ts), so the workers start up while the main thread initialises the portal and
// tunnel modules. Light imports only: this module is part of what loads before the first log line.
import { createDnsController, outwardAddress, POSTERN_FWMARK, type DnsController } from '@postern/bin-shared';
import { bindUdp, type UdpSocket } from '@postern/socket-factory';
import { openTun, type Tun } from '@postern/tun';
import type { Logger } from 'pino';
import type { ClientCliConfig } from './cli';

/** UDP socket buffers (SO_RCVBUFFORCE/SO_SNDBUFFORCE): bursts of GRO/GSO batches must not overflow them. */
const SOCKET_BUFFER_BYTES = 16 << 20;

export interface OpeningDataPlane {
  /** performance.now() when the parts started opening. */
  readonly t0: number;
  readonly socketP: Promise<UdpSocket>;
  readonly tunP: Promise<Tun>;
  /** Each part with the ms after the start at which it was ready; rejects with the first failure. */
  readonly opening: Promise<[[UdpSocket, number], [Tun, number], [string, number], [DnsController | undefined, number]]>;
}

export function openDataPlane(c: ClientCliConfig, log: Logger): OpeningDataPlane {
  const t0 = performance.now();
  const took = <T>(p: Promise<T>): Promise<[T, number]> => p.then((v) => [v, Math.round(performance.now() - t0)]);
  // Marked so that our own datagrams bypass Postern's routing table (no loop through the TUN).
  const socketP = bindUdp({ port: 0, mark: POSTERN_FWMARK, sendBufferSize: SOCKET_BUFFER_BYTES, recvBufferSize: SOCKET_BUFFER_BYTES, logger: log });
  // The TUN is ready as soon as it is open: its reader and writer start up meanwhile (its `started` rejects if
  // one cannot), while the UDP socket's receive worker, the portal connection and the routes come up.
  const tunP = openTun({ name: c.tunName, queues: 1, logger: log, waitForWorkers: false });
  const dnsP: Promise<DnsController | undefined> = c.dnsControl === 'disabled' ? Promise.resolve(undefined) : createDnsController({ method: c.dnsControl, tunName: c.tunName, logger: log });
  const opening = Promise.all([took(socketP), took(tunP), took(outwardAddress(c.apiUrl)), took(dnsP)]);
  // Handled by the client once it is loaded (closeOnFailure and its await); until then a failure is not unhandled.
  opening.catch(() => undefined);
  return { t0, socketP, tunP, opening };
}
