// postern-gateway: entrypoint only (CLI, wiring, IO shell). The CAP_NET_ADMIN check comes before anything
// touches the system; the tunnel itself is @postern/tunnel's GatewayState driven by its Tunnel loop.
// First of all (before the other modules are evaluated): the V8 flag and malloc setting of memory.ts.
import './process-settings';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  buildInfo,
  checkNetAdmin,
  DEVICE_ID_APP,
  getOrCreateDeviceId,
  knownDir,
  startHealthCheck,
  Terminate,
  TunDeviceManager,
  versionLine,
} from '@postern/bin-shared';
import { errWithSources, parseLogFilterOrExit, setupLogging } from '@postern/logging';
import { encodeKey, parseGatewayIngress, type GatewayIngressMessage } from '@postern/model';
import { buildLoginUrl, cryptoRng, defaultUserAgent, PhoenixChannel } from '@postern/phoenix-channel';
import { bindUdp } from '@postern/socket-factory';
import { openTun } from '@postern/tun';
import { GatewayState, Tunnel } from '@postern/tunnel';
import { CliError, parseCli, resolveToken, USAGE, type GatewayCliConfig } from './cli';
import { outwardAddress } from './local-address';
import { MemoryTrimmer } from './memory';

const info = buildInfo('postern-gateway');
const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-V')) {
  console.log(versionLine(info));
  process.exit(0);
}
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}

let cfg: GatewayCliConfig;
let token: string;
try {
  cfg = parseCli(args, process.env);
  if (!cfg.noCheck) checkNetAdmin(info.binary);
  token = resolveToken(cfg, process.env);
} catch (err) {
  if (err instanceof CliError) {
    console.error(`${info.binary}: ${err.message}`);
    process.exit(2);
  }
  console.error(`${info.binary}: ${err instanceof Error ? errWithSources(err) : String(err)}`);
  process.exit(1);
}
delete process.env['POSTERN_TOKEN'];

// Tunnel IPs of every client: replies to them go into the TUN.
const PEER_ROUTES_V4 = [{ address: '100.64.0.0', prefix: 11 }];
const PEER_ROUTES_V6 = [{ address: 'fd00:2021:1111::', prefix: 107 }];

/** UDP socket buffers (SO_RCVBUFFORCE/SO_SNDBUFFORCE): bursts of GRO/GSO batches must not overflow them. */
const SOCKET_BUFFER_BYTES = 16 << 20;

async function run(c: GatewayCliConfig, tokenValue: string): Promise<number> {
  const filter = parseLogFilterOrExit(info.binary, c.logFilter);
  const logging = setupLogging({ format: c.logFormat, filter, name: info.binary });
  const log = logging.logger;
  log.info(versionLine(info));
  // After a burst of connections has been quiet for a second, glibc gives back what handshakes freed.
  const trimmer = new MemoryTrimmer(1000, undefined, (err: unknown) => {
    log.info(`not trimming malloc after connection bursts: ${errWithSources(err)}`);
  });

  const deviceId = c.id ?? (await getOrCreateDeviceId({ appId: DEVICE_ID_APP.gateway, configDir: knownDir('serviceConfig') })).id;
  const privateKey = new Uint8Array(randomBytes(32));
  const state = new GatewayState({ privateKey, rng: cryptoRng, wallClockAtZero: Date.now() - performance.now() });

  const socket = await bindUdp({ port: c.listenPort, sendBufferSize: SOCKET_BUFFER_BYTES, recvBufferSize: SOCKET_BUFFER_BYTES, logger: log });
  const local = await outwardAddress(c.apiUrl);
  const tun = await openTun({ name: c.tunName, queues: c.tunThreads, logger: log });
  const tdm = new TunDeviceManager({ tunName: c.tunName, logger: log });
  log.info({ tun: c.tunName, queues: c.tunThreads, udp: socket.local.key, hostCandidate: `${local}:${String(socket.local.port)}`, backend: socket.backend }, 'data plane ready');

  const url = buildLoginUrl({ role: 'gateway', apiUrl: c.apiUrl, deviceId, name: c.name ?? hostname(), publicKey: state.publicKey });
  if (url instanceof Error) throw url;
  const portal = new PhoenixChannel<GatewayIngressMessage>({
    url,
    token: tokenValue,
    userAgent: defaultUserAgent('gateway', info.version),
    logger: log,
    topic: 'gateway',
    joinPayload: null,
    decode: parseGatewayIngress,
    ...(c.maxPartitionTimeMs === undefined ? {} : { maxPartitionTimeMs: c.maxPartitionTimeMs }),
  });
  let joined = false;
  let configured = Promise.resolve();
  portal.onEvent((e) => {
    if (e.type === 'joined') joined = true;
    else if (e.type === 'hiccup') joined = false;
    else if (e.type === 'message' && e.message.event === 'init') {
      const iface = e.message.payload.interface;
      configured = configured
        .then(async () => {
          const r = await tdm.setIps(iface.ipv4, iface.ipv6);
          await tdm.setRoutes(PEER_ROUTES_V4, r.ipv6 ? PEER_ROUTES_V6 : []);
          log.info({ ipv4: iface.ipv4, ipv6: r.ipv6 ? iface.ipv6 : undefined }, 'TUN configured');
        })
        .catch((err: unknown) => {
          log.error(`configuring the TUN failed: ${errWithSources(err)}`);
        });
    }
  });

  const tunnel = new Tunnel({
    state,
    tun,
    socket,
    portal,
    logger: log,
    onEvent: (ev) => {
      switch (ev.type) {
        case 'clientConnected':
          log.info({ clientId: ev.clientId, path: ev.path, via: ev.via }, 'client connected');
          trimmer.note();
          break;
        case 'clientDisconnected':
          log.info({ clientId: ev.clientId, reason: ev.reason }, 'client disconnected');
          break;
        case 'accessExpired':
          log.info({ clientId: ev.clientId, resourceId: ev.resourceId }, 'access expired');
          break;
      }
    },
  });
  tunnel.withState(() => {
    const addr = socket.addr(local, socket.local.port);
    state.setLocalAddresses([addr], performance.now());
  });
  tunnel.start();
  portal.start();
  log.info({ publicKey: encodeKey(state.publicKey), deviceId }, 'gateway started');
  const health = await startHealthCheck({ host: c.healthCheckAddr.host, port: c.healthCheckAddr.port, isReady: () => joined });

  const terminate = new Terminate();
  const outcome = await Promise.race([
    terminate.recv().then(() => ({ kind: 'signal' as const })),
    portal.done.then((err) => ({ kind: 'portal' as const, err })),
    tunnel.done.then((err) => ({ kind: 'tunnel' as const, err })),
  ]);
  terminate.close();
  trimmer.close();
  log.info('shutting down: Goodbye to clients');
  tunnel.withState(() => {
    state.shutdown(performance.now());
  });
  await tunnel.stop();
  log.info({ ...tunnel.stats }, 'tunnel stats');
  await portal.close();
  await configured;
  await tdm.close().catch((err: unknown) => {
    log.debug(`removing routes: ${errWithSources(err)}`);
  });
  await health.close();
  let code = 0;
  if (outcome.kind !== 'signal' && outcome.err !== undefined) {
    log.error(`${outcome.kind === 'portal' ? 'portal connection failed' : 'tunnel failed'}: ${errWithSources(outcome.err)}`);
    code = 1;
  }
  log.info('stopped');
  await logging.close();
  return code;
}

run(cfg, token).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`${info.binary}: ${err instanceof Error ? errWithSources(err) : String(err)}`);
    process.exit(1);
  },
);
