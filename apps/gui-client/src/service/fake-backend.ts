// An in-process fake connlib session (`postern-gui --mock-tunnel`, tests): no TUN, no root, no portal.
// It "connects" after a short delay and reports a fixed resource list; the network can be switched off and
// the token refused to exercise WaitingForNetwork and sign-in-required paths.
import type { IpcResource } from '../ipc/messages';
import { SessionStartError, type RunningSession, type SessionBackend, type SessionSink, type SessionStartOptions } from './backend';

export const FAKE_RESOURCES: readonly IpcResource[] = [
  { id: '00000000-0000-4000-8000-000000000001', type: 'cidr', name: 'lab-net', address: '198.18.27.0/24', siteIds: ['lab'], status: 'connected' },
  { id: '00000000-0000-4000-8000-000000000002', type: 'dns', name: 'lab-web', address: '*.lab.corp.example', siteIds: ['lab'], status: 'unknown' },
  { id: '00000000-0000-4000-8000-000000000003', type: 'internet', name: 'Internet', siteIds: ['internet'], status: 'unknown' },
];

export class FakeBackend implements SessionBackend {
  /** Switch off to make `start` fail with NO_NETWORK. */
  network = true;
  /** Tokens that the fake portal refuses. */
  readonly refusedTokens = new Set<string>();
  readonly started: SessionStartOptions[] = [];
  readonly log: string[] = [];
  private live = 0;

  constructor(
    private readonly delayMs = 50,
    private readonly resources: readonly IpcResource[] = FAKE_RESOURCES,
  ) {}

  get liveSessions(): number {
    return this.live;
  }

  start(opts: SessionStartOptions, sink: SessionSink): Promise<RunningSession> {
    this.started.push(opts);
    if (!this.network) return Promise.reject(new SessionStartError('NO_NETWORK', `no route to the portal at ${opts.apiUrl}`));
    if (this.refusedTokens.has(opts.token)) return Promise.reject(new SessionStartError('INVALID_TOKEN', 'the portal refused the token: sign in again'));
    this.live++;
    let stopped = false;
    const timer = setTimeout(() => {
      if (stopped) return;
      sink.connected();
      sink.resources(this.resources);
    }, this.delayMs);
    return Promise.resolve({
      setInternetResourceActive: (active) => {
        this.log.push(`internet=${String(active)}`);
      },
      reset: () => {
        this.log.push('reset');
      },
      stop: () => {
        if (!stopped) {
          stopped = true;
          this.live--;
          clearTimeout(timer);
          this.log.push('stop');
        }
        return Promise.resolve();
      },
    });
  }
}

/** A change source driven by hand (tests, mock mode). */
export class ManualChanges {
  private waiters: ((v: boolean) => void)[] = [];
  private pending = 0;
  private closed = false;

  constructor(fireAtStart = true) {
    if (fireAtStart) this.pending = 1;
  }

  fire(): void {
    const w = this.waiters.shift();
    if (w) w(true);
    else this.pending++;
  }

  notified(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.pending > 0) {
      this.pending--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(false);
    return Promise.resolve();
  }
}
