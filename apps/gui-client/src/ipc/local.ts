// An in-process IPC link (`postern-gui --mock-tunnel`): the GUI talks to a ServiceHandler in the same process.
// Messages still go through JSON and the zod schemas both ways, and asynchronously, as over the socket.
import type { IpcClientEvents, ServiceLink } from './client';
import { decodeBody } from './codec';
import { GuiToServiceSchema, ServiceToGuiSchema } from './messages';
import type { GuiConnection, IpcServerHandler } from './server';

export function localConnector(handler: IpcServerHandler): (events: IpcClientEvents) => Promise<ServiceLink> {
  let nextId = 1;
  let current: GuiConnection | undefined;
  return (events) => {
    if (current !== undefined) return Promise.reject(new Error('another GUI is connected'));
    let open = true;
    const conn: GuiConnection = {
      id: nextId++,
      send: (msg) => {
        if (!open) return;
        const r = decodeBody(ServiceToGuiSchema, Buffer.from(JSON.stringify(msg)));
        setImmediate(() => {
          if (!open) return;
          if (r.ok) events.onMessage(r.value);
          else events.onInvalid?.(r.error);
        });
      },
      close: () => {
        link.close();
      },
    };
    current = conn;
    const link: ServiceLink = {
      send: (msg) => {
        if (!open) return;
        const r = decodeBody(GuiToServiceSchema, Buffer.from(JSON.stringify(msg)));
        setImmediate(() => {
          if (!open) return;
          if (r.ok) handler.onMessage(conn, r.value);
          else conn.send({ type: 'Error', code: r.error.code, message: r.error.message });
        });
      },
      close: () => {
        if (!open) return;
        open = false;
        current = undefined;
        handler.onDisconnect(conn);
        setImmediate(() => {
          events.onClose();
        });
      },
    };
    handler.onConnect(conn);
    return Promise.resolve(link);
  };
}
