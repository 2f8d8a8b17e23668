// The IO shell: drives PhoenixChannelCore with a real `ws` WebSocket, a timer and the monotonic clock.
import { randomBytes, randomInt } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import { type Rng } from './backoff';
import { PhoenixChannelCore, type ChannelEvent, type ChannelState, type ChannelStats, type PhoenixChannelCoreConfig } from './core';
import { PhoenixChannelError } from './errors';
import { type ReplyStatus } from './frame';
import { parseProblemDetails, parseRetryAfterMs, upgradeHeaders } from './http';
import { redactUrl } from './login-url';
import { markedConnector, resolveTarget, tlsOptionsFor, urlPort } from './marked-socket';

/** An `Rng` backed by node:crypto. */
export const cryptoRng: Rng = {
  fill(bytes: Uint8Array): void {
    bytes.set(randomBytes(bytes.length));
  },
  nextU32(): number {
    return randomInt(0, 0x1_0000_0000 - 1);
  },
};

export interface PhoenixChannelOptions<T> extends Omit<PhoenixChannelCoreConfig<T>, 'rng'> {
  /** The websocket URL (see `buildLoginUrl`). */
  readonly url: URL;
  /** Sent as `X-Authorization: Bearer <token>`; never logged. */
  readonly token?: string | undefined;
  /** See `formatUserAgent` / `defaultUserAgent`. */
  readonly userAgent: string;
  readonly logger: Logger;
  readonly rng?: Rng;
  /**
   * SO_MARK (fwmark) for the websocket's TCP socket, set before it connects, so that policy routing keeps the
   * portal connection out of the TUN (the client with the Internet resource active). Needs CAP_NET_ADMIN.
   */
  readonly mark?: number;
  /** Extra `ws` client options (TLS: `ca`, `cert`, `key`, ...). */
  readonly wsOptions?: Omit<ClientOptions, 'headers'>;
  /** Monotonic milliseconds; default `performance.now`. */
  readonly now?: () => number;
  /** Wall-clock milliseconds for HTTP-date Retry-After; default `Date.now`. */
  readonly wallNow?: () => number;
  /** How long `request` waits for its phx_reply; default 30 s. */
  readonly requestTimeoutMs?: number;
}

export interface Reply {
  readonly ref: number;
  readonly topic: string;
  readonly status: ReplyStatus;
  readonly response: unknown;
}

interface PendingRequest {
  resolve(reply: Reply): void;
  reject(error: PhoenixChannelError): void;
  timer: NodeJS.Timeout;
}

const MAX_ERROR_BODY = 64 * 1024;

/**
 * The portal websocket client. `start()` connects; events (joined, message, reply, hiccup, skipped, fatal) go to
 * `onEvent` listeners; `done` resolves with the fatal error (or undefined after `close()`).
 */
export class PhoenixChannel<T> {
  private readonly core: PhoenixChannelCore<T>;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private socket: { readonly connection: number; readonly ws: WebSocket } | undefined;
  /** The connection whose address is being resolved before a marked socket opens. */
  private resolving: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private pumping = false;
  private readonly listeners = new Set<(event: ChannelEvent<T>) => void>();
  private readonly pending = new Map<number, PendingRequest>();
  private token: string | undefined;
  private resolveDone: (value: PhoenixChannelError | undefined) => void = () => undefined;
  /** Resolves when the channel stops: with the fatal error, or undefined after `close()`. */
  readonly done: Promise<PhoenixChannelError | undefined>;

  constructor(private readonly options: PhoenixChannelOptions<T>) {
    this.core = new PhoenixChannelCore<T>({ ...options, rng: options.rng ?? cryptoRng });
    this.log = options.logger.child({ component: 'phoenix-channel', topic: options.topic });
    this.now = options.now ?? (() => performance.now());
    this.wallNow = options.wallNow ?? (() => Date.now());
    this.token = options.token;
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  get state(): ChannelState {
    return this.core.state;
  }
  get stats(): Readonly<ChannelStats> {
    return this.core.stats;
  }

  /** Subscribes to channel events; returns the unsubscribe function. */
  onEvent(listener: (event: ChannelEvent<T>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Connects (first time) or reconnects now with a fresh backoff (network change, SIGHUP). */
  start(): void {
    this.core.connect(this.now());
    this.pump();
  }
  reconnect(): void {
    this.start();
  }

  /** Replaces the token used for the next connection attempt. */
  setToken(token: string | undefined): void {
    this.token = token;
  }

  /** Sends (after the join) a message; returns its ref or NOT_CONNECTED. */
  send(event: string, payload?: unknown, topic?: string): number | PhoenixChannelError {
    const r = this.core.send(event, payload, topic);
    this.pump();
    return r;
  }

  /** Sends and resolves with the matching phx_reply; rejects on connection loss or timeout. */
  request(event: string, payload?: unknown, topic?: string): Promise<Reply> {
    const ref = this.core.request(event, payload, topic);
    if (ref instanceof PhoenixChannelError) return Promise.reject(ref);
    const existing = this.pending.get(ref);
    const promise = new Promise<Reply>((resolve, reject) => {
      const timeoutMs = this.options.requestTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new PhoenixChannelError('REQUEST_TIMEOUT', `no reply to ${event} (ref ${ref}) within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(ref, {
        resolve: (r) => {
          existing?.resolve(r);
          resolve(r);
        },
        reject: (e) => {
          existing?.reject(e);
          reject(e);
        },
        timer,
      });
      if (existing) clearTimeout(existing.timer);
    });
    this.pump();
    return promise;
  }

  /** Closes the socket and stops; `done` resolves with undefined. */
  close(): Promise<void> {
    this.core.close();
    this.pump();
    this.abortRequests(new PhoenixChannelError('CLOSED', 'the channel was closed'));
    this.clearTimer();
    this.resolveDone(undefined);
    return Promise.resolve();
  }

  // --- the loop ---------------------------------------------------------------------------------------------------

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const action = this.core.pollAction();
        const event = action ? undefined : this.core.pollEvent();
        if (!action && !event) break;
        if (action) {
          switch (action.type) {
            case 'open':
              this.openSocket(action.connection);
              break;
            case 'send':
              if (this.socket?.connection === action.connection && this.socket.ws.readyState === WebSocket.OPEN) this.socket.ws.send(action.text);
              break;
            case 'close':
              if (this.socket?.connection === action.connection) this.dropSocket();
              break;
          }
        }
        if (event) this.dispatch(event);
      }
    } finally {
      this.pumping = false;
    }
    this.schedule();
  }

  private dispatch(event: ChannelEvent<T>): void {
    switch (event.type) {
      case 'joined':
        this.log.info('Connected to portal');
        break;
      case 'reply': {
        const p = this.pending.get(event.ref);
        if (p) {
          this.pending.delete(event.ref);
          clearTimeout(p.timer);
          p.resolve({ ref: event.ref, topic: event.topic, status: event.status, response: event.response });
        }
        break;
      }
      case 'hiccup':
        this.log.info({ backoffMs: event.backoffMs, code: event.error.code }, `Hiccup in portal connection: ${errorChain(event.error)}; reconnecting in ${Math.round(event.backoffMs)} ms`);
        this.abortRequests(new PhoenixChannelError('REQUEST_ABORTED', 'the portal connection was lost', { cause: event.error }));
        break;
      case 'skipped':
        this.log.debug({ code: event.error.code }, errorChain(event.error));
        break;
      case 'fatal':
        this.abortRequests(new PhoenixChannelError('REQUEST_ABORTED', 'the portal connection stopped', { cause: event.error }));
        this.clearTimer();
        this.resolveDone(event.error);
        break;
      case 'message':
        if (event.warnings.length > 0) this.log.debug({ event: event.event }, `Skipped parts of ${event.event}: ${event.warnings.join('; ')}`);
        break;
    }
    for (const l of this.listeners) l(event);
  }

  private abortRequests(error: PhoenixChannelError): void {
    for (const [ref, p] of this.pending) {
      this.pending.delete(ref);
      clearTimeout(p.timer);
      p.reject(error);
    }
  }

  private schedule(): void {
    const at = this.core.pollTimeout();
    if (at === this.timerAt && this.timer) return;
    this.clearTimer();
    if (at === undefined) return;
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = undefined;
      this.core.handleTimeout(this.now());
      this.pump();
    }, Math.max(0, Math.ceil(at - this.now())));
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
  }

  private openSocket(connection: number): void {
    this.dropSocket();
    const url = this.options.url;
    this.log.debug({ url: redactUrl(url), connection }, 'Connecting to portal');
    const mark = this.options.mark;
    if (mark === undefined) {
      this.attachSocket(connection, new WebSocket(url, { ...this.options.wsOptions, headers: upgradeHeaders(this.token, this.options.userAgent) }));
      return;
    }
    // A marked socket needs its address family before the fd exists: resolve first, then connect.
    this.resolving = connection;
    resolveTarget(url.hostname).then(
      (target) => {
        if (this.resolving !== connection) return; // dropped or superseded meanwhile
        this.resolving = undefined;
        let ws: WebSocket;
        try {
          const createConnection = markedConnector(target, urlPort(url), mark, tlsOptionsFor(url, this.options.wsOptions ?? {}));
          ws = new WebSocket(url, { ...this.options.wsOptions, headers: upgradeHeaders(this.token, this.options.userAgent), createConnection });
        } catch (err) {
          this.core.handleSocketError(connection, err, this.now());
          this.pump();
          return;
        }
        this.attachSocket(connection, ws);
      },
      (err: unknown) => {
        if (this.resolving !== connection) return;
        this.resolving = undefined;
        this.core.handleSocketError(connection, err, this.now());
        this.pump();
      },
    );
  }

  private attachSocket(connection: number, ws: WebSocket): void {
    this.socket = { connection, ws };
    ws.on('open', () => {
      this.core.handleOpen(connection, this.now());
      this.pump();
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        this.log.debug('Ignoring binary websocket frame');
        return;
      }
      this.core.handleText(connection, rawToString(data), this.now());
      this.pump();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.core.handleClose(connection, code, reason.toString('utf8'), this.now());
      this.pump();
    });
    ws.on('error', (err: Error) => {
      this.core.handleSocketError(connection, err, this.now());
      this.pump();
    });
    ws.on('unexpected-response', (req, res: IncomingMessage) => {
      this.readErrorResponse(connection, res, () => {
        req.destroy();
      });
    });
  }

  private readErrorResponse(connection: number, res: IncomingMessage, done: () => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (): void => {
      const status = res.statusCode ?? 0;
      const body = Buffer.concat(chunks).toString('utf8');
      const problem = parseProblemDetails(res.headers['content-type'], body);
      const retryAfterMs = parseRetryAfterMs(headerValue(res.headers['retry-after']), this.wallNow());
      this.core.handleHttpFailure(connection, { status, problem, retryAfterMs }, this.now());
      done();
      this.pump();
    };
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_ERROR_BODY) chunks.push(chunk);
    });
    res.once('end', finish);
    res.once('error', finish);
  }

  private dropSocket(): void {
    this.resolving = undefined;
    const s = this.socket;
    if (!s) return;
    this.socket = undefined;
    s.ws.removeAllListeners();
    s.ws.on('error', (err: Error) => {
      this.log.trace({ err: err.message }, 'error on a dropped websocket');
    });
    s.ws.terminate();
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** `outer: cause: root` (STYLE.md: one log line carries the whole chain). */
export function errorChain(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let i = 0; i < 8 && e !== undefined && e !== null; i++) {
    parts.push(e instanceof Error ? e.message : typeof e === 'string' ? e : JSON.stringify(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ');
}
