// postern-tunnel-service (root): owns the TUN, routes, DNS control, the network/DNS listeners and the connlib
// session; the GUI drives it over the IPC socket. Entrypoint only: CLI, wiring, lifetime.
// First of all: the data plane's V8 flags (re-executes node when started without them).
import './service/process-settings';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildInfo,
  checkNetAdmin,
  DEVICE_ID_APP,
  getOrCreateDeviceId,
  ipcSocketPath,
  knownDir,
  newDnsNotifier,
  newNetworkNotifier,
  Terminate,
  versionLine,
} from '@postern/bin-shared';
import { errWithSources, LogFilter, setupLogging } from '@postern/logging';
import { Telemetry } from '@postern/telemetry';
import { IpcServer } from './ipc/server';
import type { AdvancedSettings } from './ipc/messages';
import type { ChangeSource, SessionBackend } from './service/backend';
import { parseServiceCli, SERVICE_USAGE } from './service/cli';
import { ConnlibBackend } from './service/connlib-backend';
import { FakeBackend, ManualChanges } from './service/fake-backend';
import { ServiceHandler } from './service/handler';
import { sdNotify } from './service/sd-notify';
import { loadSettings, saveSettings } from './service/settings';
import { CliError } from './flags';

// The release build bakes in the package's main binary name (postern-gui); this entry is the service.
const info = { ...buildInfo('postern-tunnel-service'), binary: 'postern-tunnel-service' };
const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-V')) {
  console.log(versionLine(info));
  process.exit(0);
}
if (args.includes('--help') || args.includes('-h')) {
  console.log(SERVICE_USAGE);
  process.exit(0);
}

async function main(): Promise<number> {
  const cfg = parseServiceCli(args, process.env);
  if (!cfg.mockTunnel && !cfg.noCheck) checkNetAdmin(info.binary);
  const configDir = knownDir('serviceConfig');
  const logDir = knownDir('serviceLogs');
  const runtimeDir = knownDir('runtime');
  for (const d of [configDir, logDir]) mkdirSync(d, { recursive: true, mode: 0o755 });
  mkdirSync(runtimeDir, { recursive: true, mode: 0o755 });
  const settingsFile = join(configDir, 'settings.json');
  const loaded = loadSettings(settingsFile);
  const filterText = cfg.logFilter ?? loaded.settings.logFilter;
  const logging = setupLogging({ format: cfg.logFormat, filter: filterText, name: info.binary, file: { dir: logDir, base: 'tunnel-service' } });
  const log = logging.logger;
  log.info(versionLine(info));
  if (loaded.problem !== undefined) log.warn(`settings ignored: ${loaded.problem}`);

  const deviceId = (await getOrCreateDeviceId({ appId: DEVICE_ID_APP.client, configDir })).id;
  const backend: SessionBackend = cfg.mockTunnel
    ? new FakeBackend()
    : new ConnlibBackend({ tunName: cfg.tunName, dnsControl: cfg.dnsControl, logger: log, version: info.version });
  let networkChanges: ChangeSource;
  let dnsChanges: ChangeSource;
  if (cfg.mockTunnel) {
    networkChanges = new ManualChanges();
    dnsChanges = new ManualChanges();
  } else {
    networkChanges = await newNetworkNotifier({ tunName: cfg.tunName, logger: log });
    dnsChanges = await newDnsNotifier({ method: cfg.dnsControl, tunName: cfg.tunName, logger: log });
  }
  const telemetry = new Telemetry();
  const handler = new ServiceHandler({
    backend,
    deviceId,
    version: info.version,
    gitSha: info.gitSha,
    logger: log,
    settings: loaded.settings,
    telemetry: {
      start: (o) => telemetry.start({ ...o, noTelemetry: cfg.noTelemetry, ...(cfg.telemetryDsn === undefined ? {} : { dsn: cfg.telemetryDsn }), logger: log }),
      setAccount: (s) => {
        telemetry.setAccount(s);
      },
      setDeviceId: (id) => {
        telemetry.setDeviceId(id);
      },
      startSession: () => {
        telemetry.startSession();
      },
      stop: () => telemetry.stop(),
    },
    logDir,
    ...(logging.filePath === undefined ? {} : { currentLogFile: logging.filePath }),
    networkChanges,
    dnsChanges,
    applySettings: (s: AdvancedSettings) => {
      const filter = LogFilter.parse(s.logFilter); // throws on an invalid filter: refused
      saveSettings(settingsFile, s);
      if (cfg.logFilter === undefined) log.level = filter.defaultLevel;
    },
  });
  const server = new IpcServer({ path: ipcSocketPath(), handler, logger: log });
  const sock = await server.listen();
  if (sock.gid === undefined) log.info({ socket: sock.path }, 'IPC socket ready; group postern-client does not exist, so only root can connect');
  else log.info({ socket: sock.path, gid: sock.gid }, 'IPC socket ready (group postern-client)');
  sdNotify('READY=1');

  const terminate = new Terminate();
  const signal = await terminate.recv();
  terminate.close();
  log.info({ signal }, 'shutting down');
  sdNotify('STOPPING=1');
  await handler.close();
  await server.close();
  log.info('stopped');
  await logging.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof CliError) {
      console.error(`${info.binary}: ${err.message}`);
      process.exit(2);
    }
    console.error(`${info.binary}: ${errWithSources(err)}`);
    process.exit(1);
  },
);
