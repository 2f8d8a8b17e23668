import { TunError } from '../errors';
import type { Tun, TunOptions } from '../types';

export function openLinuxTun(_options: TunOptions): Promise<Tun> {
  return Promise.reject(new TunError('OPEN_FAILED', 'not implemented yet'));
}
