// The tunnel service's side of the IPC: a Unix socket (mode 0660, group `postern-client` when that group
// exists), one GUI at a time (a second one gets an `Error {code: ALREADY_CONNECTED}` frame and is closed),
// every inbound frame validated; malformed or invalid frames get an `Error` reply and the connection stays.
import { chmodSync, chownSync, existsSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { encodeFrame, FrameDecoder } from './codec';
import { GuiToServiceSchema, IpcError, type GuiToService, type ServiceToGui } from './messages';

export const IPC_GROUP = 'postern-client';

/** The gid of a group from /etc/group, if it exists. */
export function groupId(name: string, groupFile = '/etc/group'): number | undefined {
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

export interface GuiConnection {
  readonly id: number;
  send(msg: ServiceToGui): void;
  close(): void;
}

export interface IpcServerHandler {
  onConnect(conn: GuiConnection): void;
  onMessage(conn: GuiConnection, msg: GuiToService): void;
  onDisconnect(conn: GuiConnection): void;
}

export interface IpcServerOptions {
  readonly path: string;
  readonly handler: IpcServerHandler;
  readonly logger: Logger;
  readonly group?: string;
  readonly groupFile?: string;
}

export interface IpcServerInfo {
  readonly path: string;
  readonly mode: number;
  /** The group owning the socket, or undefined when the group does not exist (root's group then). */
  readonly gid: number | undefined;
}

async function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      resolve(false);
    });
  });
}

export class IpcServer {
  private server: Server | undefined;
  private current: { conn: GuiConnection; socket: Socket } | undefined;
  private nextId = 1;
  private readonly log: Logger;

  constructor(private readonly opts: IpcServerOptions) {
    this.log = opts.logger.child({ module: 'ipc' });
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  async listen(): Promise<IpcServerInfo> {
    const { path } = this.opts;
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) throw new IpcError('SOCKET_FAILED', `${path} exists and is not a socket`);
      if (await isLive(path)) throw new IpcError('SOCKET_FAILED', `another tunnel service is listening on ${path}`);
      unlinkSync(path);
    }
    const server = createServer((socket) => {
      this.accept(socket);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => {
      this.log.error({ err: err.message }, 'IPC server error');
    });
    const gid = groupId(this.opts.group ?? IPC_GROUP, this.opts.groupFile);
    if (gid !== undefined) chownSync(path, process.getuid?.() ?? 0, gid);
    chmodSync(path, 0o660);
    return { path, mode: 0o660, gid };
  }

  private accept(socket: Socket): void {
    if (this.current !== undefined) {
      this.log.info('refused a second GUI');
      socket.end(encodeFrame({ type: 'Error', code: 'ALREADY_CONNECTED', message: 'another GUI is connected to the tunnel service' } satisfies ServiceToGui));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const decoder = new FrameDecoder(GuiToServiceSchema);
    let open = true;
    const conn: GuiConnection = {
      id: this.nextId++,
      send: (msg) => {
        if (open && !socket.destroyed) socket.write(encodeFrame(msg));
      },
      close: () => {
        socket.end();
      },
    };
    this.current = { conn, socket };
    const gone = (): void => {
      if (!open) return;
      open = false;
      if (this.current?.conn === conn) this.current = undefined;
      this.opts.handler.onDisconnect(conn);
    };
    socket.on('data', (chunk: Buffer) => {
      for (const r of decoder.push(chunk)) {
        if (r.ok) {
          this.opts.handler.onMessage(conn, r.value);
          continue;
        }
        this.log.info({ code: r.error.code }, `refused an IPC frame: ${r.error.message}`);
        conn.send({ type: 'Error', code: r.error.code, message: r.error.message });
        if (r.fatal) {
          socket.end();
          return;
        }
      }
    });
    socket.on('error', (err) => {
      this.log.debug({ err: err.message }, 'GUI socket error');
    });
    socket.on('close', gone);
    this.opts.handler.onConnect(conn);
  }

  /** Sends to the connected GUI, if any. */
  send(msg: ServiceToGui): void {
    this.current?.conn.send(msg);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.current?.socket.end();
    if (server === undefined) return;
    const cur = this.current;
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
      if (cur !== undefined) setTimeout(() => cur.socket.destroy(), 500).unref();
    });
    try {
      unlinkSync(this.opts.path);
    } catch (err) {
      this.log.debug({ err: err instanceof Error ? err.message : String(err) }, 'socket already removed');
    }
  }
}
