// The GUI's logic between the web UI and the tunnel service: what the user is shown (sign-in, session state,
// resources, settings) and the intents sent to the service. The link to the service is reconnected when it
// drops (a restarted service, or the service not started yet).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { IpcClientEvents, ServiceLink } from '../ipc/client';
import type { AdvancedSettings, IpcResource, ServiceToGui, SessionStateName } from '../ipc/messages';
import { apiUrlFromPortalUrl } from '../service/settings';
import type { TokenStore } from './files';

export type ConnectService = (events: IpcClientEvents) => Promise<ServiceLink>;

export interface GuiView {
  readonly signedIn: boolean;
  readonly actorName: string | undefined;
  readonly accountSlug: string | undefined;
  readonly service: 'connected' | 'unavailable';
  readonly session: SessionStateName;
  readonly resources: readonly IpcResource[];
  readonly internetResourceActive: boolean;
  readonly settings: AdvancedSettings;
  readonly portalUrl: string;
  readonly version: string;
  readonly serviceVersion: string | undefined;
  readonly deviceId: string | undefined;
  readonly error: string | undefined;
  readonly notice: string | undefined;
}

export interface GuiControllerOptions {
  readonly connectService: ConnectService;
  readonly tokens: TokenStore;
  readonly settings: AdvancedSettings;
  readonly saveSettings: (s: AdvancedSettings) => void;
  /** Applies the log filter to the GUI's own logger (throws on an invalid filter). */
  readonly applyLogFilter: (filter: string) => void;
  readonly version: string;
  readonly logger: Logger;
  /** Starts GUI telemetry for a portal URL and returns the environment the service should use. */
  readonly startTelemetry?: (apiUrl: string) => { environment: string; release: string };
  readonly retryMs?: number;
}

export class GuiController {
  private link: ServiceLink | undefined;
  private session: SessionStateName = 'Idle';
  private resources: readonly IpcResource[] = [];
  private internet = false;
  private settings: AdvancedSettings;
  private serviceVersion: string | undefined;
  private deviceId: string | undefined;
  private error: string | undefined;
  private notice: string | undefined;
  private pendingState: string | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  /** Resolves on the next Hello (tests). */
  private helloWaiters: (() => void)[] = [];

  constructor(private readonly opts: GuiControllerOptions) {
    this.settings = opts.settings;
    this.log = opts.logger.child({ module: 'gui' });
  }

  view(): GuiView {
    const s = this.opts.tokens.load();
    return {
      signedIn: s !== undefined,
      actorName: s?.actorName,
      accountSlug: s?.accountSlug,
      service: this.link === undefined ? 'unavailable' : 'connected',
      session: this.session,
      resources: this.resources,
      internetResourceActive: this.internet,
      settings: this.settings,
      portalUrl: this.settings.authUrl,
      version: this.opts.version,
      serviceVersion: this.serviceVersion,
      deviceId: this.deviceId,
      error: this.error,
      notice: this.notice,
    };
  }

  /** Connects to the service (retrying until it is there). */
  start(): void {
    void this.connect();
  }

  whenHello(): Promise<void> {
    return new Promise((resolve) => this.helloWaiters.push(resolve));
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    try {
      const link = await this.opts.connectService({
        onMessage: (m) => {
          this.onMessage(m);
        },
        onInvalid: (err) => {
          this.log.warn(`invalid message from the tunnel service: ${err.message}`);
        },
        onClose: () => {
          if (this.link === link) this.link = undefined;
          this.session = 'Idle';
          this.resources = [];
          if (!this.closed) this.scheduleRetry();
        },
      });
      this.link = link;
      this.error = undefined;
    } catch (err) {
      this.error = `The tunnel service is not running: ${err instanceof Error ? err.message : String(err)}`;
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.retry !== undefined || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, this.opts.retryMs ?? 1000);
  }

  private send(msg: Parameters<ServiceLink['send']>[0]): boolean {
    if (this.link === undefined) {
      this.error = 'The tunnel service is not running.';
      return false;
    }
    this.link.send(msg);
    return true;
  }

  private onMessage(m: ServiceToGui): void {
    switch (m.type) {
      case 'Hello': {
        this.deviceId = m.deviceId;
        this.serviceVersion = m.version;
        this.session = m.state;
        this.resources = m.resources;
        this.internet = m.internetResourceActive;
        if (!sameSettings(m.settings, this.settings)) this.send({ type: 'ApplyAdvancedSettings', settings: this.settings });
        this.startServiceTelemetry();
        const s = this.opts.tokens.load();
        // A GUI that (re)starts finds the session as the service kept it; it connects only an idle service.
        if (s !== undefined && m.state === 'Idle') this.send({ type: 'Connect', token: s.token, internetResourceActive: this.internet });
        for (const w of this.helloWaiters.splice(0)) w();
        break;
      }
      case 'ConnectResult':
        this.session = m.state;
        this.error = m.ok ? undefined : (m.error ?? 'connecting failed');
        break;
      case 'SessionState':
        this.session = m.state;
        if (m.state === 'Idle') this.resources = [];
        break;
      case 'OnUpdateResources':
        this.resources = m.resources;
        break;
      case 'OnDisconnect':
        this.error = m.error;
        if (m.requiresSignIn) {
          this.opts.tokens.clear();
          this.notice = 'Your session expired: please sign in again.';
        }
        break;
      case 'DisconnectedGracefully':
        this.resources = [];
        break;
      case 'AllGatewaysOffline':
        this.notice = 'All gateways of a resource are offline.';
        break;
      case 'SettingsApplied':
        this.notice = 'Settings saved.';
        break;
      case 'ClearedLogs':
        this.notice = m.ok ? 'Logs cleared.' : `Clearing logs failed: ${m.error ?? ''}`;
        break;
      case 'TerminatingGracefully':
        this.notice = 'The tunnel service is stopping.';
        break;
      case 'Error':
        this.error = `Tunnel service: ${m.message}`;
        this.log.warn({ code: m.code }, `the tunnel service refused a message: ${m.message}`);
        break;
    }
  }

  private startServiceTelemetry(): void {
    const t = this.opts.startTelemetry?.(this.settings.apiUrl);
    if (t === undefined) return;
    const slug = this.opts.tokens.load()?.accountSlug;
    this.send({ type: 'StartTelemetry', environment: t.environment, release: t.release, ...(slug === undefined ? {} : { accountSlug: slug }) });
  }

  /** The portal's sign-in URL with a fresh state that the callback must bring back. */
  signInUrl(callbackUrl: string): string {
    this.pendingState = randomBytes(24).toString('base64url');
    const u = new URL('/sign_in', this.settings.authUrl);
    u.searchParams.set('redirect_uri', callbackUrl);
    u.searchParams.set('state', this.pendingState);
    return u.toString();
  }

  /** The portal's redirect: checks the state (once), keeps the token, connects. */
  handleCallback(q: URLSearchParams): { ok: true } | { ok: false; error: string } {
    const expected = this.pendingState;
    const state = q.get('state') ?? '';
    const token = q.get('token') ?? q.get('fragment') ?? '';
    if (expected === undefined) return { ok: false, error: 'no sign-in in progress' };
    if (!constantTimeEqual(state, expected)) return { ok: false, error: 'the sign-in state does not match (a stale or forged callback)' };
    this.pendingState = undefined;
    if (token === '' || token.length > 4096) return { ok: false, error: 'the portal sent no token' };
    const accountSlug = q.get('account_slug') ?? undefined;
    const actorName = q.get('actor_name') ?? undefined;
    this.opts.tokens.save({ token, ...(accountSlug === undefined ? {} : { accountSlug }), ...(actorName === undefined ? {} : { actorName }) });
    this.error = undefined;
    this.notice = undefined;
    this.startServiceTelemetry();
    this.send({ type: 'Connect', token, internetResourceActive: this.internet });
    return { ok: true };
  }

  setInternetResource(active: boolean): void {
    this.internet = active;
    this.send({ type: 'SetInternetResourceState', active });
  }

  applySettings(input: { portalUrl: string; logFilter: string }): { ok: true } | { ok: false; error: string } {
    let authUrl: string;
    let apiUrl: string;
    try {
      const u = new URL(input.portalUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, error: 'the portal URL must be http(s)://' };
      authUrl = u.toString().replace(/\/$/, '');
      apiUrl = apiUrlFromPortalUrl(authUrl);
    } catch {
      return { ok: false, error: 'the portal URL is not a URL' };
    }
    try {
      this.opts.applyLogFilter(input.logFilter);
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    const settings: AdvancedSettings = { authUrl, apiUrl, logFilter: input.logFilter };
    this.settings = settings;
    this.opts.saveSettings(settings);
    this.send({ type: 'ApplyAdvancedSettings', settings });
    this.notice = 'Settings saved.';
    return { ok: true };
  }

  signOut(): void {
    this.opts.tokens.clear();
    this.send({ type: 'Disconnect' });
    this.session = 'Idle';
    this.resources = [];
    this.notice = 'Signed out.';
  }

  clearLogs(): void {
    this.send({ type: 'ClearLogs' });
  }

  close(): void {
    this.closed = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.link?.close();
    this.link = undefined;
  }
}

function sameSettings(a: AdvancedSettings, b: AdvancedSettings): boolean {
  return a.authUrl === b.authUrl && a.apiUrl === b.apiUrl && a.logFilter === b.logFilter;
}

export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
