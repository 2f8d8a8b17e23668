// postern-gui (user): the local web UI. Entrypoint only: CLI, wiring (controller + web server + the link to
// postern-tunnel-service, or an in-process fake service with --mock-tunnel), opening the browser, lifetime.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildInfo, ipcSocketPath, knownDir, Terminate, versionLine } from '@postern/bin-shared';
import { errWithSources, LogFilter, setupLogging } from '@postern/logging';
import { Telemetry } from '@postern/telemetry';
import { IpcClient } from './ipc/client';
import { localConnector } from './ipc/local';
import { CliError } from './flags';
import { GUI_USAGE, parseGuiCli } from './gui/cli';
import { GuiController, type ConnectService } from './gui/controller';
import { collectLogs, TokenStore } from './gui/files';
import { startWeb } from './gui/web';
import { FakeBackend, ManualChanges } from './service/fake-backend';
import { ServiceHandler } from './service/handler';
import { apiUrlFromPortalUrl, DEFAULT_SETTINGS, loadSettings, saveSettings } from './service/settings';

const info = buildInfo('postern-gui');
const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-V')) {
  console.log(versionLine(info));
  process.exit(0);
}
if (args.includes('--help') || args.includes('-h')) {
  console.log(GUI_USAGE);
  process.exit(0);
}

function openUrl(mode: 'browser' | 'app' | 'none', browser: string | undefined, url: string): void {
  if (mode === 'none') return;
  const cmd = browser ?? (mode === 'app' ? 'chromium' : 'xdg-open');
  const rest = mode === 'app' ? [`--app=${url}`] : [url];
  const child = spawn(cmd, rest, { detached: true, stdio: 'ignore' });
  child.on('error', (err) => {
    console.error(`postern-gui: cannot open a browser (${err.message}); open ${url}`);
  });
  child.unref();
}

async function main(): Promise<number> {
  const cfg = parseGuiCli(args, process.env);
  const configDir = knownDir('userConfig');
  const logDir = knownDir('userLogs');
  mkdirSync(configDir, { recursive: true, mode: 0o700 });
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const settingsFile = join(configDir, 'settings.json');
  const loaded = loadSettings(settingsFile, cfg.portalUrl === undefined ? DEFAULT_SETTINGS : { ...DEFAULT_SETTINGS, authUrl: cfg.portalUrl, apiUrl: apiUrlFromPortalUrl(cfg.portalUrl) });
  const logging = setupLogging({
    format: cfg.logFormat,
    filter: cfg.logFilter ?? loaded.settings.logFilter,
    name: info.binary,
    file: { dir: logDir, base: 'gui' },
  });
  const log = logging.logger;
  log.info(versionLine(info));
  if (loaded.problem !== undefined) log.warn(`settings ignored: ${loaded.problem}`);

  let connectService: ConnectService;
  let mockHandler: ServiceHandler | undefined;
  if (cfg.mockTunnel) {
    const backend = new FakeBackend(300);
    mockHandler = new ServiceHandler({
      backend,
      deviceId: 'mock-device',
      version: info.version,
      gitSha: info.gitSha,
      logger: log,
      settings: loaded.settings,
      networkChanges: new ManualChanges(),
      dnsChanges: new ManualChanges(),
    });
    connectService = localConnector(mockHandler);
    log.info('--mock-tunnel: using an in-process fake tunnel service');
  } else {
    const path = ipcSocketPath();
    connectService = (events) => IpcClient.connect(path, events);
  }

  const telemetry = new Telemetry();
  const controller = new GuiController({
    connectService,
    tokens: new TokenStore(configDir),
    settings: loaded.settings,
    saveSettings: (s) => {
      saveSettings(settingsFile, s);
    },
    applyLogFilter: (f) => {
      const filter = LogFilter.parse(f);
      if (cfg.logFilter === undefined) log.level = filter.defaultLevel;
    },
    version: info.version,
    logger: log,
    startTelemetry: (apiUrl) => {
      const s = telemetry.start({
        component: 'gui-client',
        version: info.version,
        gitSha: info.gitSha,
        apiUrl,
        noTelemetry: cfg.noTelemetry,
        ...(cfg.telemetryDsn === undefined ? {} : { dsn: cfg.telemetryDsn }),
        logger: log,
      });
      return { environment: s.environment, release: s.release };
    },
  });
  controller.start();
  const web = await startWeb({
    controller,
    logger: log,
    port: cfg.port,
    collectLogs: () =>
      collectLogs([
        { dir: logDir, prefix: 'gui' },
        { dir: knownDir('serviceLogs'), prefix: 'tunnel-service' },
      ]),
  });
  // The one line tests and users look for (it carries the per-run secret).
  console.log(`postern-gui: open ${web.launchUrl}`);
  log.info({ origin: web.origin }, 'UI ready');
  openUrl(cfg.open, cfg.browser, web.launchUrl);

  const terminate = new Terminate();
  const signal = await terminate.recv();
  terminate.close();
  log.info({ signal }, 'shutting down');
  controller.close();
  await web.close();
  await mockHandler?.close();
  await telemetry.stop();
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
