// A tiny HTTP server: GET /healthz -> 200 while the process runs, GET /readyz -> 200 or 503 from a callback.
import { createServer, type Server } from 'node:http';
import { BinSharedError } from './errors';

export interface HealthCheckOptions {
  /** Default "0.0.0.0". */
  readonly host?: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** Readiness: true -> 200, false or a throw -> 503. */
  readonly isReady: () => boolean | Promise<boolean>;
}

export interface HealthCheckHandle {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export const DEFAULT_HEALTH_CHECK_PORT = 8080;

export async function startHealthCheck(opts: HealthCheckOptions): Promise<HealthCheckHandle> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(405, 'method not allowed\n');
    } else if (path === '/healthz') {
      reply(200, 'ok\n');
    } else if (path === '/readyz') {
      Promise.resolve()
        .then(() => opts.isReady())
        .then(
          (ready) => {
            reply(ready ? 200 : 503, ready ? 'ready\n' : 'not ready\n');
          },
          () => {
            reply(503, 'not ready\n');
          },
        );
    } else {
      reply(404, 'not found\n');
    }
  });
  const host = opts.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      reject(new BinSharedError('HEALTH_CHECK_BIND', `cannot listen on ${host}:${opts.port}`, { cause: err }));
    });
    server.listen(opts.port, host, () => {
      resolve();
    });
  });
  const addr = server.address();
  return {
    host,
    port: typeof addr === 'object' && addr !== null ? addr.port : opts.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
