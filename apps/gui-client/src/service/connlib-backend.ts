// The real session of the tunnel service: @postern/tunnel's ClientState driven by its Tunnel loop, with the
// TUN, routes and DNS of @postern/bin-shared, wired the same way as apps/headless-client (src/main.ts).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { createDnsController, outwardAddress, POSTERN_FWMARK, TunDeviceManager, type DnsControlMethod, type DnsController } from '@postern/bin-shared';
import { errWithSources } from '@postern/logging';
import { parseClientIngress, type ClientIngressMessage } from '@postern/model';
import { buildLoginUrl, cryptoRng, defaultUserAgent, PhoenixChannel } from '@postern/phoenix-channel';
import { bindUdp } from '@postern/socket-factory';
import { openTun } from '@postern/tun';
import { ClientState, closeOnFailure, EarlyPortal, TunConfigurator, TunnelSession, type DnsResourceRecord, type ResourceView } from '@postern/tunnel';
import type { IpcResource } from '../ipc/messages';
import { SessionStartError, type RunningSession, type SessionBackend, type SessionSink, type SessionStartOptions } from './backend';

export interface ConnlibBackendOptions {
  readonly tunName: string;
  readonly dnsControl: DnsControlMethod;
  readonly logger: Logger;
  readonly version: string;
  /** Name shown in the portal; default the hostname. */
  readonly name?: string;
}

const NO_NETWORK_CODES = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

export function toIpcResource(r: ResourceView): IpcResource {
  return { id: r.id, type: r.type, name: r.name, ...(r.address === undefined ? {} : { address: r.address }), siteIds: [...r.siteIds], status: r.status };
}

export class ConnlibBackend implements SessionBackend {
  /**
   * The DNS resource records of the last session (names -> proxy IPs), kept in memory for as long as the tunnel
   * service runs and given to the next session, so names resolved before a sign-out or a reconnect keep their
   * proxy IPs (as Firezone's tunnel service does; never written to disk).
   */
  private dnsRecords: readonly DnsResourceRecord[] = [];

  constructor(private readonly opts: ConnlibBackendOptions) {}

  async start(s: SessionStartOptions, sink: SessionSink): Promise<RunningSession> {
    const log = this.opts.logger.child({ module: 'session' });
    let local: string;
    try {
      local = await outwardAddress(s.apiUrl);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && NO_NETWORK_CODES.has(code)) throw new SessionStartError('NO_NETWORK', `no route to the portal`, { cause: err });
      throw new SessionStartError('START_FAILED', 'cannot find our address towards the portal', { cause: err });
    }
    // Without a route the kernel may still "connect" the probe socket, leaving it unbound (0.0.0.0 / ::).
    if (local === '0.0.0.0' || local === '::') throw new SessionStartError('NO_NETWORK', 'no route to the portal (no local address)');
    const { tunName } = this.opts;
    const state = new ClientState({
      privateKey: new Uint8Array(randomBytes(32)),
      rng: cryptoRng,
      wallClockAtZero: Date.now() - performance.now(),
      internetResourceActive: s.internetResourceActive,
      dnsRecords: this.dnsRecords,
    });
    const url = buildLoginUrl({ role: 'client', apiUrl: s.apiUrl, deviceId: s.deviceId, name: this.opts.name ?? hostname(), publicKey: state.publicKey });
    if (url instanceof Error) throw new SessionStartError('START_FAILED', 'invalid portal URL', { cause: url });

    // Start-up runs concurrently (issue 11), as in postern-client: the UDP socket, the TUN device (each with its
    // worker threads) and DNS control open while the portal connection is made; the portal's first messages are
    // held by EarlyPortal until the tunnel loop subscribes.
    const socketP = bindUdp({ port: 0, mark: POSTERN_FWMARK, logger: log });
    const tunP = openTun({ name: tunName, queues: 1, logger: log }).catch((err: unknown) => {
      throw new SessionStartError('START_FAILED', `cannot open the TUN device ${tunName}`, { cause: err });
    });
    const dnsP: Promise<DnsController | undefined> =
      this.opts.dnsControl === 'disabled' ? Promise.resolve(undefined) : createDnsController({ method: this.opts.dnsControl, tunName, logger: log });
    const opening = Promise.all([socketP, tunP, dnsP]);
    // Whatever opened is closed again when another part fails (the error is the first failure's).
    closeOnFailure(opening, [socketP, tunP], (err) => {
      log.debug(`closing after a failed start: ${errWithSources(err)}`);
    });

    const portal = new PhoenixChannel<ClientIngressMessage>({
      url,
      token: s.token,
      userAgent: defaultUserAgent('gui-client', this.opts.version),
      logger: log,
      topic: 'client',
      // The portal websocket must bypass the tunnel (the Internet resource routes everything else into it).
      mark: POSTERN_FWMARK,
      joinPayload: null,
      decode: parseClientIngress,
    });
    const early = new EarlyPortal<ClientIngressMessage>(portal);
    portal.start();
    const [socket, tun, dns] = await opening.catch(async (err: unknown) => {
      early.detach();
      await portal.close();
      throw err;
    });
    const tunConfig = new TunConfigurator({ device: new TunDeviceManager({ tunName, logger: log }), dns, logger: log });
    const session = new TunnelSession({
      state,
      tun,
      socket,
      portal,
      channel: early,
      logger: log,
      localAddress: local,
      tunConfig,
      onEvent: (ev) => {
        if (ev.type === 'resourcesChanged') sink.resources(ev.resources.map(toIpcResource));
        else if (ev.type === 'authorizationFailed' && ev.reason === 'offline') sink.allGatewaysOffline();
        else if (ev.type === 'dnsRecordsChanged') this.dnsRecords = ev.records;
      },
    });
    session.start();
    // Subscribed in the same turn as the loop: a `joined` held by EarlyPortal is replayed to both (loop first).
    const unsubscribe = early.onEvent((e) => {
      if (e.type === 'joined') sink.connected();
    });

    let stopped = false;
    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      early.detach();
      await session.stop();
    };
    void session.ended.then((r) => {
      if (stopped) return;
      sink.failed(r.err === undefined ? 'the session ended' : errWithSources(r.err), r.kind === 'portal' && (r.err?.requiresSignIn ?? false));
    });
    return {
      setInternetResourceActive: (active) => {
        session.tunnel.withState(() => {
          state.setInternetResourceActive(active);
        });
      },
      reset: () => {
        session.reset();
        // The route to the portal may leave from another address now: refresh our host candidate.
        outwardAddress(s.apiUrl).then(
          (addr) => {
            if (stopped || addr === session.localAddress || addr === '0.0.0.0' || addr === '::') return;
            session.setLocalAddress(addr);
            log.info('our address towards the portal changed');
          },
          (err: unknown) => {
            log.debug(`no route to the portal after a network change: ${errWithSources(err)}`);
          },
        );
      },
      stop,
    };
  }
}
