// The sans-IO Phoenix channel: fed websocket lifecycle inputs, text frames and `now`; returns actions (open a
// socket, send a text frame, close), events and the next timeout. No sockets, timers, clocks or logging here.
import { Backoff, INITIAL_CONNECT_POLICY, reconnectPolicy, type Rng } from './backoff';
import { PhoenixChannelError } from './errors';
import { displayErrorReason, errorReason, HEARTBEAT_TOPIC, isRecord, parseFrame, parseReplyPayload, serializeFrame, type InboundFrame, type ReplyStatus } from './frame';
import { decodeWith, SKIP_CODE, type InboundDecoder } from './decode';
import { classifyHttpFailure, type HttpFailure } from './http';

export const JOIN_TIMEOUT_MS = 5_000;
export const HEARTBEAT_INTERVAL_MS = 10_000;
export const MAX_UNANSWERED_HEARTBEATS = 3;
export const CONNECT_TIMEOUT_MS = 10_000;

export interface PhoenixChannelCoreConfig<T> {
  /** The login topic: `client`, `gateway` or `relay` (anything in tests). */
  readonly topic: string;
  /** phx_join payload: `null` for client and gateway, `{stamp_secret}` for the relay. */
  readonly joinPayload: unknown;
  readonly decode: InboundDecoder<T>;
  readonly rng: Rng;
  /** Give up (fatal MAX_RETRIES_REACHED) after being disconnected this long, once joined before; default forever. */
  readonly maxPartitionTimeMs?: number | undefined;
  readonly joinTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly connectTimeoutMs?: number;
}

export type ChannelState = 'idle' | 'connecting' | 'joining' | 'joined' | 'waiting' | 'closed';

/** What the IO shell must do. `connection` identifies the socket; inputs about older sockets are ignored. */
export type ChannelAction =
  | { readonly type: 'open'; readonly connection: number }
  | { readonly type: 'send'; readonly connection: number; readonly text: string }
  | { readonly type: 'close'; readonly connection: number };

export type ChannelEvent<T> =
  /** The join was acknowledged (Firezone's `Connected`); held messages are now sent. */
  | { readonly type: 'joined'; readonly response: unknown }
  /** A decoded push; `warnings` name parts the decoder dropped (e.g. bad ICE candidates). */
  | { readonly type: 'message'; readonly topic: string; readonly event: string; readonly ref: number | null; readonly message: T; readonly warnings: readonly string[] }
  /** A phx_reply to a message sent with `send`/`request`. */
  | { readonly type: 'reply'; readonly ref: number; readonly topic: string; readonly status: ReplyStatus; readonly response: unknown }
  /** The connection failed; the channel reconnects after `backoffMs`. Requests in flight are lost. */
  | { readonly type: 'hiccup'; readonly error: PhoenixChannelError; readonly backoffMs: number }
  /** An input was skipped (garbage, unknown event, unmatched reply, phx_error): counted, never fatal. */
  | { readonly type: 'skipped'; readonly error: PhoenixChannelError }
  /** The channel stopped for good (sign-in required, login failed, retries exhausted). */
  | { readonly type: 'fatal'; readonly error: PhoenixChannelError };

export interface ChannelStats {
  framesReceived: number;
  garbageFrames: number;
  skippedMessages: number;
  hiccups: number;
  heartbeatsSent: number;
}

interface Outbound {
  readonly ref: number;
  readonly key: string;
  readonly text: string;
}

export class PhoenixChannelCore<T> {
  private stateValue: ChannelState = 'idle';
  private connection = 0;
  private nextRef = 0;
  private joinRef: number | undefined;
  private hasJoinedOnce = false;
  private backoff: Backoff | undefined;
  private deadline: number | undefined;
  private readonly heartbeats = new Set<number>();
  private readonly requests = new Set<number>();
  private held: Outbound[] = [];
  private readonly actions: ChannelAction[] = [];
  private readonly events: ChannelEvent<T>[] = [];
  readonly stats: ChannelStats = { framesReceived: 0, garbageFrames: 0, skippedMessages: 0, hiccups: 0, heartbeatsSent: 0 };
  private readonly joinTimeout: number;
  private readonly heartbeatInterval: number;
  private readonly connectTimeout: number;

  constructor(private readonly config: PhoenixChannelCoreConfig<T>) {
    this.joinTimeout = config.joinTimeoutMs ?? JOIN_TIMEOUT_MS;
    this.heartbeatInterval = config.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.connectTimeout = config.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  }

  get state(): ChannelState {
    return this.stateValue;
  }
  /** The id of the current socket (0 before the first `open`). */
  get currentConnection(): number {
    return this.connection;
  }

  // --- commands --------------------------------------------------------------------------------------------------

  /**
   * Connects now, resetting the reconnect backoff (also the way to force a reconnect, e.g. on a network change).
   * Works from every state, including `closed` after a fatal error.
   */
  connect(now: number): void {
    if (this.stateValue === 'connecting' || this.stateValue === 'joining' || this.stateValue === 'joined') {
      this.actions.push({ type: 'close', connection: this.connection });
    }
    this.resetConnectionState();
    this.backoff = this.hasJoinedOnce ? undefined : new Backoff(INITIAL_CONNECT_POLICY, now, this.config.rng);
    this.open(now);
  }

  /** Closes the channel for good (no event). */
  close(): void {
    if (this.stateValue === 'connecting' || this.stateValue === 'joining' || this.stateValue === 'joined') {
      this.actions.push({ type: 'close', connection: this.connection });
    }
    this.resetConnectionState();
    this.stateValue = 'closed';
    this.deadline = undefined;
  }

  /**
   * Queues a message on the login topic (or `topic`); returns its ref. Messages are held until the join reply.
   * An identical message still waiting to be sent is not queued twice (its ref is returned). Fails with
   * NOT_CONNECTED unless a socket is open (nothing is replayed across connections).
   */
  send(event: string, payload?: unknown, topic: string = this.config.topic): number | PhoenixChannelError {
    return this.enqueue(event, payload, topic, false);
  }

  /** Like `send`, but the phx_reply with this ref is surfaced as a `reply` event. */
  request(event: string, payload?: unknown, topic: string = this.config.topic): number | PhoenixChannelError {
    return this.enqueue(event, payload, topic, true);
  }

  private enqueue(event: string, payload: unknown, topic: string, wantsReply: boolean): number | PhoenixChannelError {
    if (this.stateValue !== 'joining' && this.stateValue !== 'joined') {
      return new PhoenixChannelError('NOT_CONNECTED', `cannot send ${event}: the channel is ${this.stateValue}`);
    }
    const key = JSON.stringify([topic, event, payload]);
    const dup = this.held.find((o) => o.key === key);
    if (dup) {
      if (wantsReply) this.requests.add(dup.ref);
      return dup.ref;
    }
    const ref = this.nextRef++;
    this.held.push({ ref, key, text: serializeFrame(topic, event, payload, ref) });
    if (wantsReply) this.requests.add(ref);
    return ref;
  }

  // --- inputs from the shell -------------------------------------------------------------------------------------

  /** The websocket of `connection` is open: join. */
  handleOpen(connection: number, now: number): void {
    if (connection !== this.connection || this.stateValue !== 'connecting') return;
    this.stateValue = 'joining';
    this.sendJoin(now);
  }

  /** The upgrade was answered with a non-101 HTTP status. */
  handleHttpFailure(connection: number, failure: HttpFailure, now: number): void {
    if (connection !== this.connection || !this.socketActive()) return;
    const c = classifyHttpFailure(failure);
    if (c.fatal) this.fatal(c.error, false);
    else this.fail(c.error, now, failure.retryAfterMs, false);
  }

  /** The socket failed (DNS, TCP, TLS, protocol). */
  handleSocketError(connection: number, error: unknown, now: number): void {
    if (connection !== this.connection || !this.socketActive()) return;
    const code = this.stateValue === 'connecting' ? 'CONNECT_FAILED' : 'SOCKET_ERROR';
    this.fail(new PhoenixChannelError(code, `websocket failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error }), now, undefined, true);
  }

  /** The peer closed the websocket. */
  handleClose(connection: number, code: number, reason: string, now: number): void {
    if (connection !== this.connection || !this.socketActive()) return;
    const why = reason === '' ? (code === 1005 ? 'portal sent empty websocket close frame' : `portal closed the websocket (code ${code})`) : `portal closed the websocket (code ${code}: ${reason})`;
    this.fail(new PhoenixChannelError('SOCKET_CLOSED', why), now, undefined, false);
  }

  /** A text frame arrived on `connection`. */
  handleText(connection: number, text: string, now: number): void {
    if (connection !== this.connection || (this.stateValue !== 'joining' && this.stateValue !== 'joined')) return;
    this.stats.framesReceived++;
    const frame = parseFrame(text);
    if (frame instanceof PhoenixChannelError) {
      this.stats.garbageFrames++;
      this.events.push({ type: 'skipped', error: frame });
      return;
    }
    switch (frame.event) {
      case 'phx_reply':
        this.handleReply(frame, now);
        return;
      case 'phx_close':
        this.fail(new PhoenixChannelError('PORTAL_CLOSED', 'portal closed the websocket connection'), now, undefined, true);
        return;
      case 'phx_error':
        this.skip(new PhoenixChannelError('PHX_ERROR', `portal reported a channel error on ${frame.topic}`));
        return;
      case 'disconnect':
        if (isRecord(frame.payload) && frame.payload['reason'] === 'token_expired') {
          this.fatal(new PhoenixChannelError('INVALID_TOKEN', 'The portal disconnected us: token expired; sign in again'), true);
          return;
        }
        break;
    }
    const decoded = decodeWith(this.config.decode, frame);
    if (!decoded.ok) {
      const code = SKIP_CODE[decoded.reason ?? 'unknown_event'];
      const what = code === 'UNKNOWN_EVENT' ? 'unknown event' : code === 'INVALID_PAYLOAD' ? 'invalid payload of' : 'ignored';
      this.skip(new PhoenixChannelError(code, `skipped ${what} ${frame.event} on ${frame.topic}`, { cause: decoded.error }));
      return;
    }
    const warnings = decoded.warnings ?? [];
    this.events.push({ type: 'message', topic: frame.topic, event: frame.event, ref: frame.ref, message: decoded.value, warnings });
  }

  private handleReply(frame: InboundFrame, now: number): void {
    const reply = parseReplyPayload(frame.payload);
    if (!reply) {
      this.stats.garbageFrames++;
      this.events.push({ type: 'skipped', error: new PhoenixChannelError('GARBAGE_FRAME', `phx_reply without {status, response} on ${frame.topic}`) });
      return;
    }
    const ref = frame.ref;
    if (ref === null) {
      this.skip(new PhoenixChannelError('UNMATCHED_REPLY', `phx_reply without a ref on ${frame.topic} (server omitted reference)`));
      return;
    }
    if (ref === this.joinRef && this.stateValue === 'joining') {
      if (reply.status === 'error') {
        const raw = errorReason(reply.response);
        const shown = displayErrorReason(raw);
        const extra = shown === 'other' && raw !== undefined ? ` (${raw})` : '';
        this.fatal(new PhoenixChannelError('LOGIN_FAILED', `Failed to login with portal: ${shown}${extra}`), true);
        return;
      }
      this.joinRef = undefined;
      this.stateValue = 'joined';
      this.hasJoinedOnce = true;
      this.backoff = undefined;
      this.deadline = now + this.heartbeatInterval;
      this.events.push({ type: 'joined', response: reply.response });
      return;
    }
    if (this.heartbeats.delete(ref)) return;
    if (this.requests.delete(ref)) {
      this.events.push({ type: 'reply', ref, topic: frame.topic, status: reply.status, response: reply.response });
      return;
    }
    if (reply.status === 'error' && errorReason(reply.response) === 'unmatched topic' && frame.topic === this.config.topic) {
      // The portal lost our channel: join again (messages are held until the reply).
      this.stateValue = 'joining';
      this.sendJoin(now);
      return;
    }
    // A reply to a plain `send` (or a late one to an acked heartbeat): nobody waits for it.
    if (ref < this.nextRef) return;
    this.skip(new PhoenixChannelError('UNMATCHED_REPLY', `phx_reply with unknown ref ${ref} on ${frame.topic}`));
  }

  /** Drives the timers; call at (or after) `pollTimeout()`. */
  handleTimeout(now: number): void {
    if (this.deadline === undefined || now < this.deadline) return;
    switch (this.stateValue) {
      case 'waiting':
        this.open(now);
        return;
      case 'connecting':
        this.fail(new PhoenixChannelError('CONNECT_TIMEOUT', `websocket did not open within ${this.connectTimeout} ms`), now, undefined, true);
        return;
      case 'joining':
        this.fail(new PhoenixChannelError('JOIN_TIMEOUT', 'room join timed out'), now, undefined, true);
        return;
      case 'joined':
        if (this.heartbeats.size > MAX_UNANSWERED_HEARTBEATS) {
          this.fail(new PhoenixChannelError('HEARTBEAT_TIMEOUT', 'Connection hiccup: too many heartbeats were unanswered'), now, undefined, true);
          return;
        }
        this.sendHeartbeat();
        this.deadline = now + this.heartbeatInterval;
        return;
      default:
        this.deadline = undefined;
    }
  }

  // --- outputs -------------------------------------------------------------------------------------------------

  pollAction(): ChannelAction | undefined {
    const a = this.actions.shift();
    if (a) return a;
    if (this.stateValue === 'joined') {
      const o = this.held.shift();
      if (o) return { type: 'send', connection: this.connection, text: o.text };
    }
    return undefined;
  }

  pollEvent(): ChannelEvent<T> | undefined {
    return this.events.shift();
  }

  /** When `handleTimeout` must next be called, or undefined. */
  pollTimeout(): number | undefined {
    return this.deadline;
  }

  // --- internals -----------------------------------------------------------------------------------------------

  private socketActive(): boolean {
    return this.stateValue === 'connecting' || this.stateValue === 'joining' || this.stateValue === 'joined';
  }

  private resetConnectionState(): void {
    this.joinRef = undefined;
    this.heartbeats.clear();
    this.requests.clear();
    this.held = [];
  }

  private open(now: number): void {
    this.connection++;
    this.nextRef = 0;
    this.stateValue = 'connecting';
    this.deadline = now + this.connectTimeout;
    this.actions.push({ type: 'open', connection: this.connection });
  }

  private sendJoin(now: number): void {
    const ref = this.nextRef++;
    this.joinRef = ref;
    this.deadline = now + this.joinTimeout;
    this.actions.push({ type: 'send', connection: this.connection, text: serializeFrame(this.config.topic, 'phx_join', this.config.joinPayload ?? null, ref) });
  }

  private sendHeartbeat(): void {
    const ref = this.nextRef++;
    this.heartbeats.add(ref);
    this.stats.heartbeatsSent++;
    this.actions.push({ type: 'send', connection: this.connection, text: serializeFrame(HEARTBEAT_TOPIC, 'heartbeat', {}, ref) });
  }

  private skip(error: PhoenixChannelError): void {
    this.stats.skippedMessages++;
    this.events.push({ type: 'skipped', error });
  }

  /** A transient failure: close the socket (if we must) and schedule a reconnect, or give up when out of budget. */
  private fail(error: PhoenixChannelError, now: number, retryAfterMs: number | undefined, closeSocket: boolean): void {
    if (closeSocket) this.actions.push({ type: 'close', connection: this.connection });
    this.resetConnectionState();
    this.backoff ??= new Backoff(this.hasJoinedOnce ? reconnectPolicy(this.config.maxPartitionTimeMs) : INITIAL_CONNECT_POLICY, now, this.config.rng);
    const next = this.backoff.next(now);
    if (next === undefined) {
      const budget = this.hasJoinedOnce ? 'the maximum partition time' : 'the initial connection window';
      this.fatal(new PhoenixChannelError('MAX_RETRIES_REACHED', `gave up reconnecting to the portal after ${budget} (${Math.round(this.backoff.elapsed(now) / 1000)} s): ${error.message}`, { cause: error }), false);
      return;
    }
    const backoffMs = retryAfterMs ?? next;
    this.stats.hiccups++;
    this.stateValue = 'waiting';
    this.deadline = now + backoffMs;
    this.events.push({ type: 'hiccup', error, backoffMs });
  }

  private fatal(error: PhoenixChannelError, closeSocket: boolean): void {
    if (closeSocket) this.actions.push({ type: 'close', connection: this.connection });
    this.resetConnectionState();
    this.stateValue = 'closed';
    this.deadline = undefined;
    this.events.push({ type: 'fatal', error });
  }
}
