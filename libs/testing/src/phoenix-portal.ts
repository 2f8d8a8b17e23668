// A minimal portal for tests and benches: Phoenix channel framing (`{topic, event, payload, ref}` JSON text
// frames) over a real websocket. It answers every `phx_join` and `heartbeat` with an ok `phx_reply`, pushes
// `init` after the join of the topic it serves (the gateway's, by default) and lets the caller push on that
// socket (create_authorization, reject_access, ...). Not the product portal (apps/portal): no auth, no state.
//
//   const portal = new TestPhoenixPortal({ host, port, init: gatewayInit({ apiHost: host, masquerade: false }), onJoin: () => say('joined') });
//   portal.publicKey                                  // the `public_key` query parameter of the last connection
//   portal.push('create_authorization', createAuthorization({ ... }));
//
// Only `ws` and `node:*`: drivers run it from an esbuild bundle.
import { WebSocketServer, type WebSocket } from 'ws';

/** One Phoenix channel message. */
export interface PhoenixFrame {
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
  readonly ref: string | number | null;
}

export class TestPortalError extends Error {
  constructor(
    readonly code: 'NOT_JOINED' | 'BAD_FRAME',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TestPortalError';
  }
}

/** Sends one Phoenix frame on `socket`. */
export function sendFrame(socket: WebSocket, topic: string, event: string, payload: unknown, ref: PhoenixFrame['ref'] = null): void {
  socket.send(JSON.stringify({ topic, event, payload, ref }));
}

/** Parses a text frame; TestPortalError BAD_FRAME when it is not a Phoenix frame. */
export function parseFrame(data: Buffer | string): PhoenixFrame {
  let v: unknown;
  try {
    v = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    throw new TestPortalError('BAD_FRAME', 'not JSON', { cause: err });
  }
  if (typeof v !== 'object' || v === null || !('topic' in v) || !('event' in v) || typeof v.topic !== 'string' || typeof v.event !== 'string') {
    throw new TestPortalError('BAD_FRAME', 'not a Phoenix frame');
  }
  const ref = 'ref' in v && (typeof v.ref === 'string' || typeof v.ref === 'number') ? v.ref : null;
  return { topic: v.topic, event: v.event, payload: 'payload' in v ? v.payload : undefined, ref };
}

export interface TestPortalOptions {
  readonly host: string;
  readonly port: number;
  /** The topic whose join is answered by `init` and whose socket `push` uses. */
  readonly topic?: string;
  /** The payload of the `init` pushed after that join. */
  readonly init: unknown;
  /** Called after each join of `topic` (once `init` is sent). */
  readonly onJoin?: () => void;
  /** Called for every frame received, after the portal's own answer. */
  readonly onFrame?: (frame: PhoenixFrame, socket: WebSocket) => void;
}

export class TestPhoenixPortal {
  readonly server: WebSocketServer;
  readonly topic: string;
  private joinedSocket: WebSocket | undefined;
  private key: string | undefined;

  constructor(private readonly opts: TestPortalOptions) {
    this.topic = opts.topic ?? 'gateway';
    this.server = new WebSocketServer({ host: opts.host, port: opts.port });
    this.server.on('connection', (socket, req) => {
      const key = new URL(req.url ?? '/', 'http://portal').searchParams.get('public_key');
      if (key !== null) this.key = key;
      socket.on('message', (data: Buffer) => {
        this.receive(socket, data);
      });
    });
  }

  private receive(socket: WebSocket, data: Buffer): void {
    let f: PhoenixFrame;
    try {
      f = parseFrame(data);
    } catch {
      // not ours to answer: a test portal ignores garbage rather than dying with it
      return;
    }
    if (f.event === 'heartbeat' || f.event === 'phx_join') sendFrame(socket, f.topic, 'phx_reply', { status: 'ok', response: {} }, f.ref);
    if (f.event === 'phx_join' && f.topic === this.topic) {
      this.joinedSocket = socket;
      sendFrame(socket, this.topic, 'init', this.opts.init);
      this.opts.onJoin?.();
    }
    this.opts.onFrame?.(f, socket);
  }

  /** The `public_key` query parameter of the last connection that had one (base64), if any. */
  get publicKey(): string | undefined {
    return this.key;
  }

  /** Whether a socket joined the topic (the last one that did is the one `push` uses). */
  get joined(): boolean {
    return this.joinedSocket !== undefined;
  }

  /** Pushes `event` on the joined topic; TestPortalError NOT_JOINED before any join. */
  push(event: string, payload: unknown): void {
    if (this.joinedSocket === undefined) throw new TestPortalError('NOT_JOINED', `push ${event} before anyone joined ${this.topic}`);
    sendFrame(this.joinedSocket, this.topic, event, payload);
  }

  /** Resolves once the server listens (its address is then known). */
  listening(): Promise<void> {
    if (this.server.address() !== null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.server.once('listening', resolve);
      this.server.once('error', reject);
    });
  }

  async close(): Promise<void> {
    for (const c of this.server.clients) c.terminate();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }
}

/** The gateway's `init` payload (no relays, flow logs off). */
export function gatewayInit(o: { readonly apiHost: string; readonly masquerade: boolean }): unknown {
  return {
    interface: { ipv4: '100.64.0.1', ipv6: 'fd00:2021:1111::1' },
    config: { ipv4_masquerade_enabled: o.masquerade, ipv6_masquerade_enabled: o.masquerade },
    flow_logs: { api_url: `http://${o.apiHost}`, upload_interval_secs: 0, upload_batch_size: 0 },
    relays: [],
  };
}

export interface TestAuthorization {
  readonly ref: string;
  readonly resource: unknown;
  readonly client: {
    readonly id: string;
    /** base64 */
    readonly publicKey: string;
    /** base64 */
    readonly presharedKey: string;
    readonly ipv4: string;
    readonly ipv6: string;
  };
  /** The client ICE username; the passwords are fixed 22-character strings. */
  readonly iceUser: string;
  readonly icePassword: string;
  readonly flowLogsToken: string;
  /** Unix seconds. */
  readonly expiresAt?: number;
}

/** A gateway `create_authorization` payload (the client's WireGuard keys, ICE credentials, optional expiry). */
export function createAuthorization(a: TestAuthorization): unknown {
  return {
    ref: a.ref,
    resource: a.resource,
    client: { id: a.client.id, public_key: a.client.publicKey, preshared_key: a.client.presharedKey, ipv4: a.client.ipv4, ipv6: a.client.ipv6 },
    client_ice_credentials: { username: a.iceUser, password: a.icePassword },
    gateway_ice_credentials: { username: 'gate', password: 'gategategategategatega' },
    ...(a.expiresAt === undefined ? {} : { expires_at: a.expiresAt }),
    flow_logs_ingest_token: a.flowLogsToken,
  };
}
