// PLACEHOLDER: implementation follows
import { BinSharedError } from './errors';
import type { IpNetwork, SetIpsResult, TunDeviceManagerOptions } from './tun_device_manager_api';

export class TunDeviceManager {
  constructor(readonly options: TunDeviceManagerOptions) {}
  /** Sets the TUN's addresses (v4 /32, v6 /128), MTU and brings it up. */
  setIps(_ipv4: string, _ipv6: string | undefined): Promise<SetIpsResult> {
    return Promise.reject(new BinSharedError('NETLINK_FAILED', 'not implemented yet'));
  }
  /** Makes Postern's table hold exactly these routes via the TUN (diffed against the previous set), plus the policy rules. */
  setRoutes(_ipv4: readonly IpNetwork[], _ipv6: readonly IpNetwork[]): Promise<void> {
    return Promise.reject(new BinSharedError('NETLINK_FAILED', 'not implemented yet'));
  }
  /** Removes Postern's routes and rules. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
export function parseIpNetwork(_cidr: string): IpNetwork {
  throw new BinSharedError('NETLINK_FAILED', 'not implemented yet');
}
