// Terminate (SIGINT or SIGTERM) and Hangup (SIGHUP) as awaitable events. A signal that arrives while nobody
// waits is kept (one per kind), so `await terminate.recv()` after the fact still returns at once.
import { assertLinux } from './errors';

export type TerminateSignal = 'SIGINT' | 'SIGTERM';

/** What the signal classes listen on; `process` by default, an EventEmitter in tests. */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

class SignalQueue<T extends NodeJS.Signals> {
  private pending: T[] = [];
  private waiters: ((s: T | undefined) => void)[] = [];
  private closed = false;
  private readonly listener = (s: NodeJS.Signals): void => {
    this.push(s as T);
  };

  constructor(
    private readonly source: SignalSource,
    private readonly signals: readonly T[],
  ) {
    for (const s of signals) source.on(s, this.listener);
  }

  private push(s: T): void {
    const w = this.waiters.shift();
    if (w) w(s);
    else if (this.pending.length < 8) this.pending.push(s);
  }

  recv(): Promise<T | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const s = this.pending.shift();
    if (s !== undefined) return Promise.resolve(s);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.signals) this.source.off(s, this.listener);
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}

/** SIGINT or SIGTERM. While a Terminate exists, Node's default "exit on SIGINT/SIGTERM" is replaced by it. */
export class Terminate {
  private readonly q: SignalQueue<TerminateSignal>;
  constructor(source: SignalSource = process) {
    if (source === process) assertLinuxOrPosix();
    this.q = new SignalQueue<TerminateSignal>(source, ['SIGINT', 'SIGTERM']);
  }
  /** The next SIGINT/SIGTERM; `undefined` once closed. */
  recv(): Promise<TerminateSignal | undefined> {
    return this.q.recv();
  }
  /** Removes the listeners (default signal behaviour comes back); pending `recv()` resolve `undefined`. */
  close(): void {
    this.q.close();
  }
}

/** SIGHUP (reload configuration / reopen log files). */
export class Hangup {
  private readonly q: SignalQueue<'SIGHUP'>;
  constructor(source: SignalSource = process) {
    if (source === process) assertLinuxOrPosix();
    this.q = new SignalQueue<'SIGHUP'>(source, ['SIGHUP']);
  }
  /** Resolves `true` at the next SIGHUP, `false` once closed. */
  async recv(): Promise<boolean> {
    return (await this.q.recv()) !== undefined;
  }
  close(): void {
    this.q.close();
  }
}

function assertLinuxOrPosix(): void {
  if (process.platform === 'darwin') return; // POSIX signals work the same on macOS
  assertLinux('signals');
}
