// Prometheus text exposition of the portal's gauges and counters.
import type { PortalStats } from '../core/portal';

export interface ReloadCounters {
  ok: number;
  error: number;
}

function metric(lines: string[], name: string, type: 'gauge' | 'counter', help: string, samples: [string, number][]): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
}

export function renderMetrics(s: PortalStats, reloads: ReloadCounters): string {
  const lines: string[] = [];
  metric(lines, 'postern_portal_connected_clients', 'gauge', 'Clients joined to the portal.', [['', s.clients]]);
  metric(lines, 'postern_portal_connected_gateways', 'gauge', 'Gateways joined to the portal.', [['', s.gateways]]);
  metric(lines, 'postern_portal_connected_relays', 'gauge', 'Relays joined to the portal.', [['', s.relays]]);
  metric(lines, 'postern_portal_authorizations_active', 'gauge', 'Client-resource-gateway authorizations in force.', [['', s.authorizationsActive]]);
  metric(lines, 'postern_portal_authorizations_pending', 'gauge', 'Authorizations waiting for the gateway.', [['', s.authorizationsPending]]);
  metric(lines, 'postern_portal_authorizations_created_total', 'counter', 'Authorizations completed.', [['', s.authorizationsCreated]]);
  const failed = Object.entries(s.authorizationsFailed).map(([reason, n]): [string, number] => [`{reason="${reason}"}`, n]);
  metric(lines, 'postern_portal_authorizations_failed_total', 'counter', 'Authorization requests refused, by reason.', failed);
  metric(lines, 'postern_portal_frames_rejected_total', 'counter', 'Malformed or invalid frames received.', [['', s.framesRejected]]);
  metric(lines, 'postern_portal_config_reloads_total', 'counter', 'Configuration reloads, by result.', [
    ['{result="ok"}', reloads.ok],
    ['{result="error"}', reloads.error],
  ]);
  return `${lines.join('\n')}\n`;
}
