// The tunnel service's IO shell around the session state machine: IPC messages in, actions of the machine
// carried out against a SessionBackend, messages out to the connected GUI. The network and DNS listeners live
// as long as this handler (not a session), so no change is ever missed; a GUI that disconnects ends the
// telemetry session it started, and the tunnel keeps running for the next GUI.
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errWithSources } from '@postern/logging';
import type { AdvancedSettings, GuiToService, ServiceToGui } from '../ipc/messages';
import type { GuiConnection, IpcServerHandler } from '../ipc/server';
import type { ChangeSource, RunningSession, SessionBackend, TelemetryPort } from './backend';
import { SessionStartError } from './backend';
import { SessionMachine, type SessionAction } from './session';

export interface ServiceHandlerOptions {
  readonly backend: SessionBackend;
  readonly deviceId: string;
  readonly version: string;
  readonly gitSha: string;
  readonly logger: Logger;
  readonly settings: AdvancedSettings;
  /** Persists settings and applies the log filter; throws to refuse them. */
  readonly applySettings?: (settings: AdvancedSettings) => void;
  readonly telemetry?: TelemetryPort;
  /** The service's log dir, for ClearLogs. */
  readonly logDir?: string;
  /** The log file being written (kept by ClearLogs). */
  readonly currentLogFile?: string;
  readonly networkChanges?: ChangeSource;
  readonly dnsChanges?: ChangeSource;
}

export class ServiceHandler implements IpcServerHandler {
  readonly machine = new SessionMachine();
  private settings: AdvancedSettings;
  private gui: GuiConnection | undefined;
  private telemetryGui: number | undefined;
  private readonly sessions = new Map<number, Promise<RunningSession | undefined>>();
  private readonly log: Logger;
  private readonly listeners: Promise<void>[] = [];
  private closed = false;

  constructor(private readonly opts: ServiceHandlerOptions) {
    this.settings = opts.settings;
    this.log = opts.logger.child({ module: 'service' });
    if (opts.networkChanges) this.listeners.push(this.listen(opts.networkChanges, () => this.machine.networkChanged(), 'network'));
    if (opts.dnsChanges) this.listeners.push(this.listen(opts.dnsChanges, () => this.machine.dnsChanged(), 'DNS'));
  }

  get currentSettings(): AdvancedSettings {
    return this.settings;
  }

  private async listen(source: ChangeSource, input: () => SessionAction[], what: string): Promise<void> {
    let first = true;
    while (await source.notified()) {
      if (first) {
        first = false; // the notifier fires once at start
        continue;
      }
      this.log.debug(`${what} changed`);
      this.run(input());
    }
  }

  onConnect(conn: GuiConnection): void {
    this.gui = conn;
    this.log.info({ gui: conn.id }, 'GUI connected');
    conn.send({
      type: 'Hello',
      deviceId: this.opts.deviceId,
      settings: this.settings,
      state: this.machine.stateName,
      internetResourceActive: this.machine.internetResourceActive,
      resources: [...this.machine.resources],
      version: this.opts.version,
    });
  }

  onDisconnect(conn: GuiConnection): void {
    if (this.gui === conn) this.gui = undefined;
    this.log.info({ gui: conn.id }, 'GUI disconnected');
    if (this.telemetryGui === conn.id) {
      this.telemetryGui = undefined;
      void this.opts.telemetry?.stop();
    }
  }

  onMessage(conn: GuiConnection, msg: GuiToService): void {
    this.log.debug({ type: msg.type }, 'IPC message');
    switch (msg.type) {
      case 'Connect':
        this.run(this.machine.connect(msg.token, msg.internetResourceActive));
        break;
      case 'Disconnect':
        this.run(this.machine.disconnect());
        break;
      case 'SetInternetResourceState':
        this.run(this.machine.setInternetResource(msg.active));
        break;
      case 'ApplyAdvancedSettings':
        try {
          this.opts.applySettings?.(msg.settings);
          this.settings = msg.settings;
          conn.send({ type: 'SettingsApplied', settings: msg.settings });
        } catch (err) {
          conn.send({ type: 'Error', code: 'SETTINGS_REFUSED', message: err instanceof Error ? err.message : String(err) });
        }
        break;
      case 'StartTelemetry': {
        const t = this.opts.telemetry;
        if (t === undefined) break;
        const state = t.start({ component: 'tunnel-service', version: this.opts.version, gitSha: this.opts.gitSha, apiUrl: this.settings.apiUrl });
        if (state.environment !== msg.environment) this.log.debug({ gui: msg.environment, service: state.environment }, 'telemetry environments differ');
        t.setDeviceId(this.opts.deviceId);
        t.setAccount(msg.accountSlug);
        t.startSession();
        this.telemetryGui = conn.id;
        break;
      }
      case 'ClearLogs':
        conn.send(this.clearLogs());
        break;
    }
  }

  private clearLogs(): ServiceToGui {
    const dir = this.opts.logDir;
    if (dir === undefined) return { type: 'ClearedLogs', ok: true };
    try {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (f.endsWith('.log') && p !== this.opts.currentLogFile) unlinkSync(p);
      }
      return { type: 'ClearedLogs', ok: true };
    } catch (err) {
      return { type: 'ClearedLogs', ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Carries out the machine's actions. */
  run(actions: readonly SessionAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'notify':
          this.gui?.send(a.message);
          break;
        case 'start':
          this.start(a.generation, a.token, a.internetResourceActive);
          break;
        case 'stop':
          this.stop(a.generation);
          break;
        case 'reset':
          void this.sessions.get(a.generation)?.then((s) => s?.reset());
          break;
        case 'setInternetResource':
          void this.sessions.get(a.generation)?.then((s) => s?.setInternetResourceActive(a.active));
          break;
      }
    }
  }

  private start(generation: number, token: string, internetResourceActive: boolean): void {
    this.log.info({ generation }, 'starting a session');
    const started = this.opts.backend
      .start(
        { token, apiUrl: this.settings.apiUrl, deviceId: this.opts.deviceId, internetResourceActive },
        {
          connected: () => {
            this.run(this.machine.sessionConnected(generation));
          },
          resources: (r) => {
            this.run(this.machine.resourcesChanged(generation, r));
          },
          allGatewaysOffline: () => {
            this.run(this.machine.allGatewaysOffline(generation));
          },
          failed: (error, requiresSignIn) => {
            this.log.warn({ generation, requiresSignIn }, `session ended: ${error}`);
            this.run(this.machine.sessionFailed(generation, error, requiresSignIn));
          },
        },
      )
      .then(
        (s) => s,
        (err: unknown) => {
          this.sessions.delete(generation);
          const e = err instanceof SessionStartError ? err : new SessionStartError('START_FAILED', 'cannot start the session', { cause: err });
          const text = chain(e);
          if (e.code === 'NO_NETWORK') this.log.info(`no network: waiting for a change (${text})`);
          else this.log.warn(`session failed to start: ${text}`);
          this.run(this.machine.startFailed(generation, text, { noNetwork: e.code === 'NO_NETWORK', requiresSignIn: e.code === 'INVALID_TOKEN' }));
          return undefined;
        },
      );
    this.sessions.set(generation, started);
  }

  private stop(generation: number): void {
    const s = this.sessions.get(generation);
    this.sessions.delete(generation);
    if (s === undefined) return;
    const stopping = s.then((r) => r?.stop()).catch((err: unknown) => {
      this.log.warn(`stopping the session failed: ${chain(err)}`);
    });
    this.stopping.push(stopping);
  }

  private readonly stopping: Promise<void>[] = [];

  /** Stops the session (TerminatingGracefully to the GUI) and the listeners. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.run(this.machine.terminate());
    await Promise.allSettled(this.stopping);
    await this.opts.networkChanges?.close();
    await this.opts.dnsChanges?.close();
    await Promise.allSettled(this.listeners);
    await this.opts.telemetry?.stop();
  }
}

export function chain(err: unknown): string {
  return errWithSources(err);
}
