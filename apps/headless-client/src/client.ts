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
  POSTERN_FWMARK,
  Terminate,
  TunDeviceManager,
  type BuildInfo,
  type ChangeNotifier,
  outwardAddress,
} from '@postern/bin-shared';
import { errWithSources, type LoggingHandle } from '@postern/logging';
import { encodeKey, parseClientIngress, type ClientIngressMessage } from '@postern/model';
import { buildLoginUrl, cryptoRng, defaultUserAgent, PhoenixChannel } from '@postern/phoenix-channel';
import { ClientState, closeOnFailure, cryptoBackend, EarlyPortal, sessionFailure, TunConfigurator, TunnelSession } from '@postern/tunnel';
import type { ClientCliConfig } from './cli';
import type { OpeningDataPlane } from './data-plane';

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
  const tdm = new TunDeviceManager({ tunName: c.tunName, logger: log });
  // openedMs: when each part was ready, in ms after they started (concurrently).
  const openedMs = { socket: socketMs, tun: tunMs, route: localMs, dns: dnsMs };
  log.info({ tun: c.tunName, udp: socket.local.key, hostCandidate: `${firstLocal}:${String(socket.local.port)}`, backend: socket.backend, aead: cryptoBackend().name, openedMs }, 'data plane ready');

  let tunnelUp!: () => void;
  const up = new Promise<void>((resolve) => {
    tunnelUp = resolve;
  });
  const tunConfig = new TunConfigurator({ device: tdm, dns, logger: log, onConfigured: tunnelUp });
  const session = new TunnelSession({ state, tun, socket, portal, channel: earlyPortal, logger: log, localAddress: firstLocal, tunConfig });
  session.start();
  log.info({ publicKey: encodeKey(state.publicKey), deviceId }, 'client started');

  const terminate = new Terminate();
  const hangup = new Hangup();
  let stopped = false;
  // Read from the background tasks below (a function: the compiler would narrow the variable itself).
  const isStopped = (): boolean => stopped;
  void (async () => {
    while (await hangup.recv()) {
      log.info('SIGHUP: resetting connections');
      session.reset();
    }
  })();
  // A network change (links, addresses, routes other than ours): new host candidate, fresh connections (same
  // authorisations), a new portal connection, and the LAN bypass routes refreshed.
  const networkChanged = async (): Promise<void> => {
    log.info('network changed: resetting connections');
    let local = session.localAddress;
    try {
      local = await outwardAddress(c.apiUrl);
    } catch (err) {
      log.info(`no route to the portal yet: ${errWithSources(err)}`);
    }
    session.reset(local);
    tunConfig.reapply();
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
    const now = await outwardAddress(c.apiUrl).catch(() => session.localAddress);
    if (now !== session.localAddress) await networkChanged();
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
    session.ended,
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
  await session.stop();
  const failure = outcome.kind === 'portal' || outcome.kind === 'tunnel' ? sessionFailure(outcome) : undefined;
  if (failure !== undefined) log.error(failure);
  log.info({ stopped }, 'stopped');
  await logging.close();
  return failure === undefined ? 0 : 1;
}

