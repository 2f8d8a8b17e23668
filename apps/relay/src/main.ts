// postern-relay: entrypoint only (CLI, wiring, IO shell).
// First of all: the data plane's V8 flags (re-executes node when started without them).
import './process-settings';
import { randomBytes, randomInt } from 'node:crypto';
import { buildInfo, startHealthCheck, Terminate, versionLine } from '@postern/bin-shared';
import { buildLoginUrl, defaultUserAgent, PhoenixChannel } from '@postern/phoenix-channel';
import { errWithSources, parseLogFilterOrExit, setupLogging } from '@postern/logging';
import { parseRelayIngress, RELAY_TOPIC, type RelayIngressMessage } from '@postern/model';
import { CliError, parseCli, USAGE, type RelayCliConfig } from './cli';
import { startMetricsServer } from './metrics';
import { Relay } from './relay';

const info = buildInfo('postern-relay');
const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-V')) {
  console.log(versionLine(info));
  process.exit(0);
}
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}

let cfg: RelayCliConfig;
try {
  cfg = parseCli(args, process.env);
} catch (err) {
  if (err instanceof CliError) {
    console.error(`${info.binary}: ${err.message}`);
    process.exit(2);
  }
  throw err;
}

const rng = {
  fill(b: Uint8Array): void {
    b.set(randomBytes(b.length));
  },
  nextU32(): number {
    return randomInt(0, 0xffffffff);
  },
};

async function run(c: RelayCliConfig): Promise<number> {
  const filter = parseLogFilterOrExit(info.binary, c.logFilter);
  const logging = setupLogging({ format: c.logFormat, filter, name: info.binary });
  const log = logging.logger;
  log.info(versionLine(info));
  const relay = await Relay.start({
    publicIp4: c.publicIp4,
    publicIp6: c.publicIp6,
    listenPort: c.listenPort,
    lowestPort: c.lowestPort,
    highestPort: c.highestPort,
    realm: c.realm,
    users: c.users,
    authSecret: c.authSecret,
    allowedPeers: c.allowedPeers,
    deniedPeers: c.deniedPeers,
    software: `postern-relay; rev=${info.gitSha.slice(0, 8)}`,
    lastChannel: c.lastChannel,
    relayBackend: c.relaySocketBackend,
    relayBatchedSockets: c.relayBatchedSockets,
    rng,
    logger: log,
  });
  let joined = c.noPortal;
  const health = await startHealthCheck({ host: c.healthCheckAddr.host, port: c.healthCheckAddr.port, isReady: () => joined });
  const metrics = c.metricsAddr ? await startMetricsServer(c.metricsAddr.host, c.metricsAddr.port, (now) => relay.server.metrics(now), () => relay) : undefined;
  let portal: PhoenixChannel<RelayIngressMessage> | undefined;
  let fatal: Promise<Error | undefined> = new Promise(() => undefined);
  if (!c.noPortal) {
    const stampSecret = randomBytes(32).toString('hex');
    relay.setStampSecret(stampSecret);
    const url = buildLoginUrl({ role: 'relay', apiUrl: c.apiUrl, port: c.listenPort, ...(c.publicIp4 ? { ipv4: c.publicIp4 } : {}), ...(c.publicIp6 ? { ipv6: c.publicIp6 } : {}) });
    if (url instanceof Error) throw url;
    portal = new PhoenixChannel<RelayIngressMessage>({
      url,
      token: c.token,
      userAgent: defaultUserAgent('relay', info.version),
      logger: log,
      topic: RELAY_TOPIC,
      joinPayload: { stamp_secret: stampSecret },
      // The portal answers the join and sends `init {}`; nothing else is expected.
      decode: parseRelayIngress,
    });
    portal.onEvent((e) => {
      if (e.type === 'joined') {
        joined = true;
        log.info('joined the portal');
      } else if (e.type === 'hiccup') {
        joined = false;
        log.info(`portal connection lost, retrying in ${Math.round(e.backoffMs)} ms: ${errWithSources(e.error)}`);
      }
    });
    portal.start();
    fatal = portal.done;
  } else {
    log.info('running without a portal (--no-portal)');
  }
  const terminate = new Terminate();
  const outcome = await Promise.race([terminate.recv().then(() => undefined), fatal]);
  terminate.close();
  await portal?.close();
  await relay.close();
  await health.close();
  await metrics?.close();
  if (outcome) {
    log.error(`portal connection failed: ${errWithSources(outcome)}`);
    await logging.close();
    return 1;
  }
  log.info('stopped');
  await logging.close();
  return 0;
}

run(cfg).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`${info.binary}: ${err instanceof Error ? errWithSources(err) : String(err)}`);
    process.exit(1);
  },
);
