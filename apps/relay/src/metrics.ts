// Prometheus /metrics in the text exposition format.
import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RelayMetrics } from '@postern/relay-proto';

const HELP: readonly [keyof RelayMetrics, string, 'gauge' | 'counter', string][] = [
  ['allocations', 'postern_relay_allocations', 'gauge', 'Active TURN allocations.'],
  ['channels', 'postern_relay_channels', 'gauge', 'Active channel bindings.'],
  ['permissions', 'postern_relay_permissions', 'gauge', 'Installed permissions.'],
  ['allocationsCreated', 'postern_relay_allocations_created_total', 'counter', 'Allocations created.'],
  ['allocationsFreed', 'postern_relay_allocations_freed_total', 'counter', 'Allocations freed.'],
  ['authFailures', 'postern_relay_auth_failures_total', 'counter', 'Requests answered 401/438.'],
  ['requests', 'postern_relay_requests_total', 'counter', 'STUN/TURN requests.'],
  ['errorResponses', 'postern_relay_error_responses_total', 'counter', 'Error responses sent.'],
  ['packetsClientToPeer', 'postern_relay_client_to_peer_packets_total', 'counter', 'Packets relayed client -> peer.'],
  ['bytesClientToPeer', 'postern_relay_client_to_peer_bytes_total', 'counter', 'Payload bytes relayed client -> peer.'],
  ['packetsPeerToClient', 'postern_relay_peer_to_client_packets_total', 'counter', 'Packets relayed peer -> client.'],
  ['bytesPeerToClient', 'postern_relay_peer_to_client_bytes_total', 'counter', 'Payload bytes relayed peer -> client.'],
  ['packetsDropped', 'postern_relay_dropped_packets_total', 'counter', 'Packets dropped (no allocation, channel or permission; garbage).'],
];

/** Counters of the IO shell (not of the sans-IO server). */
export interface ShellMetrics {
  /** Datagrams dropped because a socket's send queue was full. */
  readonly sendQueueDrops: number;
}

export function renderMetrics(m: RelayMetrics, shell?: ShellMetrics): string {
  let out = '';
  for (const [key, name, type, help] of HELP) out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${m[key]}\n`;
  if (shell) {
    const name = 'postern_relay_send_queue_dropped_packets_total';
    out += `# HELP ${name} Datagrams dropped because a socket's send queue was full (overload).\n# TYPE ${name} counter\n${name} ${shell.sendQueueDrops}\n`;
  }
  return out;
}

export async function startMetricsServer(
  host: string,
  port: number,
  metrics: (now: number) => RelayMetrics,
  shell?: () => ShellMetrics,
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(renderMetrics(metrics(performance.now()), shell?.()));
    } else {
      res.writeHead(404);
      res.end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      resolve();
    });
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
