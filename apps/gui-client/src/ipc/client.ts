// The GUI's side of the IPC: connects to the tunnel service's socket, sends validated messages, and
// delivers validated messages from the service (invalid ones are reported, never trusted).
import { createConnection, type Socket } from 'node:net';
import { encodeFrame, FrameDecoder } from './codec';
import { GuiToServiceSchema, IpcError, ServiceToGuiSchema, type GuiToService, type ServiceToGui } from './messages';

export interface ServiceLink {
  send(msg: GuiToService): void;
  close(): void;
}

export interface IpcClientEvents {
  onMessage(msg: ServiceToGui): void;
  /** A frame from the service that did not validate. */
  onInvalid?(err: IpcError): void;
  onClose(): void;
}

export class IpcClient implements ServiceLink {
  private closed = false;
  private constructor(private readonly socket: Socket) {}

  static async connect(path: string, events: IpcClientEvents): Promise<IpcClient> {
    const socket = createConnection(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve();
      });
      socket.once('error', (err) => {
        reject(new IpcError('NOT_CONNECTED', `cannot connect to the tunnel service at ${path}`, { cause: err }));
      });
    });
    const client = new IpcClient(socket);
    const decoder = new FrameDecoder(ServiceToGuiSchema);
    socket.on('data', (chunk: Buffer) => {
      for (const r of decoder.push(chunk)) {
        if (r.ok) events.onMessage(r.value);
        else {
          events.onInvalid?.(r.error);
          if (r.fatal) socket.destroy();
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      client.closed = true;
      events.onClose();
    });
    return client;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(msg: GuiToService): void {
    const checked = GuiToServiceSchema.parse(msg);
    if (!this.closed) this.socket.write(encodeFrame(checked));
  }

  /** Writes raw bytes (tests: malformed frames). */
  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.end();
  }

  /** Drops the connection at once (tests: a crashing GUI). */
  destroy(): void {
    this.socket.destroy();
  }
}
