// PLACEHOLDER: implementation follows
import { BinSharedError } from './errors';
import type { ChangeNotifier, DnsNotifierOptions, NetworkNotifierOptions } from './network_changes_api';

export function newNetworkNotifier(_opts: NetworkNotifierOptions): Promise<ChangeNotifier> {
  return Promise.reject(new BinSharedError('NETWORK_NOTIFIER_FAILED', 'not implemented yet'));
}
export function newDnsNotifier(_opts: DnsNotifierOptions): Promise<ChangeNotifier> {
  return Promise.reject(new BinSharedError('NETWORK_NOTIFIER_FAILED', 'not implemented yet'));
}
