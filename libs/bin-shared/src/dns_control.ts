// PLACEHOLDER: implementation follows
import { BinSharedError } from './errors';
import type { DnsControlMethod, DnsControlOptions, DnsController } from './dns_control_api';

export function parseDnsControlMethod(value: string): DnsControlMethod {
  if (value === 'systemd-resolved' || value === 'etc-resolv-conf' || value === 'disabled') return value;
  throw new BinSharedError('DNS_CONTROL_INVALID_METHOD', `--dns-control must be systemd-resolved, etc-resolv-conf or disabled (got ${value})`);
}
export function createDnsController(_opts: DnsControlOptions): Promise<DnsController> {
  return Promise.reject(new BinSharedError('DNS_CONTROL_FAILED', 'not implemented yet'));
}
export function systemResolvers(_opts: { method: DnsControlMethod; resolvConfPath?: string; exclude?: readonly string[] }): Promise<string[]> {
  return Promise.reject(new BinSharedError('DNS_CONTROL_FAILED', 'not implemented yet'));
}
export function revertStaleResolvConf(_resolvConfPath?: string): Promise<boolean> {
  return Promise.reject(new BinSharedError('DNS_CONTROL_FAILED', 'not implemented yet'));
}
export function parseResolvConf(_text: string): { nameservers: string[]; search: string[] } {
  return { nameservers: [], search: [] };
}
