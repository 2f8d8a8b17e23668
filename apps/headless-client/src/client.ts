// postern-client after its start-up (loaded lazily by main.ts, see there): ClientState driven by @postern/tunnel's
// Tunnel loop, the portal connection, TUN addresses, routes and DNS through @postern/bin-shared.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  DEVICE_ID_APP,
  getOrCreateDeviceId,
  Hangup,
  knownDir,
  newNetworkNotifier,
  parseIpNetwork,
  POSTERN_FWMARK,
  Terminate,
  TunDeviceManager,
  type BuildInfo,
  type ChangeNotifier,
  type IpNetwork,
} from '@postern/bin-shared';
import { errWithSources, type LoggingHandle } from '@postern/logging';
import { encodeKey, parseClientIngress, type ClientIngressMessage } from '@postern/model';
import { buildLoginUrl, cryptoRng, defaultUserAgent, PhoenixChannel } from '@postern/phoenix-channel';
import { ClientState, closeOnFailure, EarlyPortal, Tunnel, type TunConfig } from '@postern/tunnel';
import type { ClientCliConfig } from './cli';
import type { OpeningDataPlane } from './data-plane';
import { outwardAddress } from './local-address';

function splitRoutes(routes: readonly string[]): { v4: IpNetwork[]; v6: IpNetwork[] } {
  const v4: IpNetwork[] = [];
  const v6: IpNetwork[] = [];
  for (const r of routes) {
    const n = parseIpNetwork(r);
    (n.address.includes(':') ? v6 : v4).push(n);
  }
  return { v4, v6 };
}

/** When the network notifier starts: this long after the TUN is configured, at the latest this long after the start. */
const NETWORK_WATCH_AFTER_UP_MS = 1_000;
const NETWORK_WATCH_LATEST_MS = 3_000;
const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** What main.ts started before this module was loaded. */
export interface EarlyStart {
  readonly cfg: ClientCliConfig;
  readonly token: string;
  readonly info: BuildInfo;
  readonly logging: LoggingHandle;
  readonly dataPlane: OpeningDataPlane;
}

/** The client after its start-up: state, portal connection, the tunnel loop, until a signal or a failure. */
export async function runClient(early: EarlyStart): Promise<number> {
  const { cfg: c, token: tokenValue, info, logging, dataPlane } = early;
  const log = logging.logger;
  const { socketP, tunP, opening } = dataPlane;
  // Whatever opened is closed again when another part fails (the error is the first failure's).
  closeOnFailure(opening, [socketP, tunP], (err) => {
    log.debug(`closing after a failed start: ${errWithSources(err)}`);
  });

  const privateKey = new Uint8Array(randomBytes(32));
  const state = new ClientState({
    privateKey,
    rng: cryptoRng,
    wallClockAtZero: Date.now() - performance.now(),
    internetResourceActive: c.activateInternetResource,
  });

  const deviceId = c.id ?? (await getOrCreateDeviceId({ appId: DEVICE_ID_APP.client, configDir: knownDir('serviceConfig') })).id;
  const url = buildLoginUrl({ role: 'client', apiUrl: c.apiUrl, deviceId, name: c.name ?? hostname(), publicKey: state.publicKey });
  if (url instanceof Error) throw url;
  const portal = new PhoenixChannel<ClientIngressMessage>({
    url,
    token: tokenValue,
    userAgent: defaultUserAgent('headless-client', info.version),
    logger: log,
    topic: 'client',
    // The portal websocket must bypass the tunnel (the Internet resource routes everything else into it).
    mark: POSTERN_FWMARK,
    joinPayload: null,
    decode: parseClientIngress,
    ...(c.maxPartitionTimeMs === undefined ? {} : { maxPartitionTimeMs: c.maxPartitionTimeMs }),
  });
  const earlyPortal = new EarlyPortal<ClientIngressMessage>(portal);
  portal.start();

  let opened;
  try {
    opened = await opening;
  } catch (err) {
    await portal.close();
    throw err;
  }
  const [[socket, socketMs], [tun, tunMs], [firstLocal, localMs], [dns, dnsMs]] = opened;
  const workersStarted = tun.started ?? Promise.resolve();
  workersStarted.then(
    () => {
      log.debug({ ms: Math.round(performance.now() - dataPlane.t0) }, 'TUN workers running');
    },
    () => undefined, // ends the client below
  );
  let local = firstLocal;
  const tdm = new TunDeviceManager({ tunName: c.tunName, logger: log });
  // openedMs: when each part was ready, in ms after they started (concurrently).
  const openedMs = { socket: socketMs, tun: tunMs, route: localMs, dns: dnsMs };
  log.info({ tun: c.tunName, udp: socket.local.key, hostCandidate: `${local}:${String(socket.local.port)}`, backend: socket.backend, openedMs }, 'data plane ready');

  let tunnelUp!: () => void;
  const up = new Promise<void>((resolve) => {
    tunnelUp = resolve;
  });
  let configured = Promise.resolve();
  let lastTunConfig: TunConfig | undefined;
  const applyTunConfig = (t: TunConfig): void => {
    lastTunConfig = t;
    configured = configured
      .then(async () => {
        const r = await tdm.setIps(t.ipv4, t.ipv6);
        const routes = splitRoutes(t.routes);
        await tdm.setRoutes(routes.v4, r.ipv6 ? routes.v6 : []);
        log.info({ ipv4: t.ipv4, routes: t.routes.length }, 'TUN configured');
        tunnelUp();
        // The DNS stub resolver (sentinels) is the DNS task's; until then the system uses the portal's upstreams.
        // A DNS failure does not take the tunnel down: the routes stay.
        if (dns !== undefined && t.upstreamDns.length > 0) {
          await dns.setDns(t.upstreamDns, t.searchDomain).catch((err: unknown) => {
            log.warn(`setting DNS (${dns.method}) failed: ${errWithSources(err)}`);
          });
        }
      })
      .catch((err: unknown) => {
        log.error(`configuring the TUN failed: ${errWithSources(err)}`);
      });
  };

  const tunnel = new Tunnel({
    state,
    tun,
    socket,
    portal: earlyPortal,
    logger: log,
    onEvent: (ev) => {
      switch (ev.type) {
        case 'tunConfigChanged':
          applyTunConfig(ev.config);
          break;
        case 'resourcesChanged':
          log.debug({ resources: ev.resources.map((r) => `${r.name}:${r.status}`) }, 'resources');
          break;
        case 'gatewayConnected':
          log.info({ gatewayId: ev.gatewayId, path: ev.path, via: ev.via }, 'connected to gateway');
          break;
        case 'gatewayDisconnected':
          log.info({ gatewayId: ev.gatewayId, reason: ev.reason }, 'gateway disconnected');
          break;
        case 'authorizationFailed':
          log.warn({ resourceId: ev.resourceId, reason: ev.reason }, 'access to a resource was refused');
          break;
      }
    },
  });
  tunnel.withState(() => {
    state.setLocalAddresses([socket.addr(local, socket.local.port)], performance.now());
  });
  tunnel.start();
  log.info({ publicKey: encodeKey(state.publicKey), deviceId }, 'client started');

  const terminate = new Terminate();
  const hangup = new Hangup();
  let stopped = false;
  // Read from the background tasks below (a function: the compiler would narrow the variable itself).
  const isStopped = (): boolean => stopped;
  void (async () => {
    while (await hangup.recv()) {
      log.info('SIGHUP: resetting connections');
      tunnel.withState(() => {
        state.reset(performance.now());
      });
      portal.reconnect();
    }
  })();
  // A network change (links, addresses, routes other than ours): new host candidate, fresh connections (same
  // authorisations), a new portal connection, and the LAN bypass routes refreshed.
  const networkChanged = async (): Promise<void> => {
    log.info('network changed: resetting connections');
    try {
      local = await outwardAddress(c.apiUrl);
    } catch (err) {
      log.info(`no route to the portal yet: ${errWithSources(err)}`);
    }
    tunnel.withState(() => {
      const now = performance.now();
      state.setLocalAddresses([socket.addr(local, socket.local.port)], now);
      state.reset(now);
    });
    portal.reconnect();
    if (lastTunConfig !== undefined) applyTunConfig(lastTunConfig);
  };
  // The notifier's thread is not needed to bring the tunnel up: it starts 1 s after the TUN is configured (at
  // most 3 s after the start), so its start-up does not compete with the first connection's (issue 11). A change
  // before it watches is caught by comparing the route to the portal once it does.
  let network: ChangeNotifier | undefined;
  const watching = (async () => {
    await Promise.race([sleep(NETWORK_WATCH_LATEST_MS), up.then(() => sleep(NETWORK_WATCH_AFTER_UP_MS))]);
    if (isStopped()) return;
    const notifier = await newNetworkNotifier({ tunName: c.tunName, logger: log });
    network = notifier;
    if (isStopped()) {
      // The shutdown may have passed its close() already.
      await notifier.close();
      return;
    }
    const now = await outwardAddress(c.apiUrl).catch(() => local);
    if (now !== local) await networkChanged();
    let first = true;
    while (await notifier.notified()) {
      if (first) {
        first = false;
        continue;
      }
      await networkChanged();
    }
  })();
  watching.catch((err: unknown) => {
    log.error(`watching network changes failed: ${errWithSources(err)}`);
  });
  const outcome = await Promise.race([
    terminate.recv().then(() => ({ kind: 'signal' as const })),
    portal.done.then((err) => ({ kind: 'portal' as const, err })),
    tunnel.done.then((err) => ({ kind: 'tunnel' as const, err })),
    // The TUN's workers start up in the background (data-plane.ts): one that fails to start ends the client.
    workersStarted.then(
      () => new Promise<never>(() => undefined),
      (err: unknown) => ({ kind: 'tunnel' as const, err }),
    ),
    c.exit ? up.then(() => ({ kind: 'up' as const })) : new Promise<never>(() => undefined),
  ]);
  stopped = true;
  terminate.close();
  hangup.close();
  await network?.close();
  log.info(outcome.kind === 'up' ? 'tunnel is up (--exit)' : 'shutting down');
  await tunnel.stop();
  log.info({ ...tunnel.stats }, 'tunnel stats');
  await portal.close();
  await configured;
  await dns?.deactivate().catch((err: unknown) => {
    log.warn(`restoring DNS failed: ${errWithSources(err)}`);
  });
  await tdm.close().catch((err: unknown) => {
    log.debug(`removing routes: ${errWithSources(err)}`);
  });
  let code = 0;
  if ((outcome.kind === 'portal' || outcome.kind === 'tunnel') && outcome.err !== undefined) {
    log.error(`${outcome.kind === 'portal' ? 'portal connection failed' : 'tunnel failed'}: ${errWithSources(outcome.err)}`);
    code = 1;
  }
  log.info({ stopped }, 'stopped');
  await logging.close();
  return code;
}

