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
  outwardAddress,
} from '@postern/bin-shared';
import { errWithSources, parseLogFilterOrExit, setupLogging } from '@postern/logging';
import { encodeKey, parseGatewayIngress, type GatewayIngressMessage } from '@postern/model';
import { buildLoginUrl, cryptoRng, defaultUserAgent, PhoenixChannel } from '@postern/phoenix-channel';
import { bindUdp } from '@postern/socket-factory';
import { openTun } from '@postern/tun';
import { cryptoBackend, GatewayState, sessionFailure, TunConfigurator, TunnelSession } from '@postern/tunnel';
import { CliError, parseCli, resolveToken, USAGE, type GatewayCliConfig } from './cli';
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
const PEER_ROUTES = ['100.64.0.0/11', 'fd00:2021:1111::/107'];

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
  log.info({ tun: c.tunName, queues: c.tunThreads, udp: socket.local.key, hostCandidate: `${local}:${String(socket.local.port)}`, backend: socket.backend, aead: cryptoBackend().name }, 'data plane ready');

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
  const tunConfig = new TunConfigurator({ device: tdm, logger: log });
  portal.onEvent((e) => {
    if (e.type === 'joined') joined = true;
    else if (e.type === 'hiccup') joined = false;
    else if (e.type === 'message' && e.message.event === 'init') {
      const iface = e.message.payload.interface;
      tunConfig.apply({ ipv4: iface.ipv4, ipv6: iface.ipv6, routes: PEER_ROUTES });
    }
  });

  const session = new TunnelSession({
    state,
    tun,
    socket,
    portal,
    channel: portal,
    logger: log,
    localAddress: local,
    tunConfig,
    onEvent: (ev) => {
      if (ev.type === 'clientConnected') trimmer.note();
    },
  });
  session.start();
  portal.start();
  log.info({ publicKey: encodeKey(state.publicKey), deviceId }, 'gateway started');
  const health = await startHealthCheck({ host: c.healthCheckAddr.host, port: c.healthCheckAddr.port, isReady: () => joined });

  const terminate = new Terminate();
  const outcome = await Promise.race([
    terminate.recv().then(() => ({ kind: 'signal' as const })),
    session.ended,
  ]);
  terminate.close();
  trimmer.close();
  log.info('shutting down: Goodbye to clients');
  session.tunnel.withState(() => {
    state.shutdown(performance.now());
  });
  await session.stop();
  await health.close();
  const failure = outcome.kind === 'signal' ? undefined : sessionFailure(outcome);
  if (failure !== undefined) log.error(failure);
  log.info('stopped');
  await logging.close();
  return failure === undefined ? 0 : 1;
}

run(cfg, token).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`${info.binary}: ${err instanceof Error ? errWithSources(err) : String(err)}`);
    process.exit(1);
  },
);
