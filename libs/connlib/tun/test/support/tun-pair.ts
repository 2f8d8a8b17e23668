// Two TUN devices in two namespaces (ptun-pa, ptun-pb) wired together by this process: whatever one device
// hands us is written to the other. Hosts 198.18.8.17 (a) and 198.18.8.18 (b) then talk through the pair
// (TCP, iperf3), so both the read path (kernel -> device) and the write path (device -> kernel) carry real
// traffic, with or without offloads on either side.
import { Netns, removeLeftovers, run } from '@postern/testing';
import { openTun, type Tun, type TunOptions } from '../../src/index';
import { enterNetns } from './netns';

export const HOST_A = '198.18.8.17';
export const HOST_B = '198.18.8.18';

export interface TunPair {
  readonly a: Netns;
  readonly b: Netns;
  readonly tunA: Tun;
  readonly tunB: Tun;
  /** Packets relayed a -> b and b -> a. */
  readonly relayed: { ab: number; ba: number };
  /** Stops the relay and closes both devices (namespaces stay). */
  close(): Promise<void>;
}

export async function createNamespaces(): Promise<[Netns, Netns]> {
  removeLeftovers('ptun');
  return [await Netns.create('ptun-pa'), await Netns.create('ptun-pb')];
}

export async function destroyNamespaces(nss: readonly (Netns | undefined)[]): Promise<void> {
  for (const ns of nss) await ns?.destroy();
  removeLeftovers('ptun');
}

async function openIn(ns: Netns, name: string, addr: string, options: TunOptions, mtu: number): Promise<Tun> {
  const leave = enterNetns(ns.name);
  let tun: Tun;
  try {
    tun = await openTun({ ...options, name });
  } finally {
    leave();
  }
  try {
    await ns.exec('ip', ['addr', 'add', `${addr}/28`, 'dev', name]);
    await ns.exec('ip', ['link', 'set', name, 'up', 'mtu', String(mtu), 'txqueuelen', '10000']);
  } catch (err) {
    await tun.close();
    throw err;
  }
  return tun;
}

/** Opens ptuna0 in `a` and ptunb0 in `b` with the given options and relays between them until close(). */
export async function tunPair(a: Netns, b: Netns, optsA: TunOptions, optsB: TunOptions, mtu = 1500): Promise<TunPair> {
  const tunA = await openIn(a, 'ptuna0', HOST_A, optsA, mtu);
  let tunB: Tun;
  try {
    tunB = await openIn(b, 'ptunb0', HOST_B, optsB, mtu);
  } catch (err) {
    await tunA.close();
    throw err;
  }
  const relayed = { ab: 0, ba: 0 };
  const pump = async (from: Tun, to: Tun, dir: 'ab' | 'ba'): Promise<void> => {
    for (;;) {
      const batch = await from.recvMany(256);
      if (batch.length === 0) return;
      // recvMany's views stay valid until the next recvMany; sendAll copies them before that.
      await to.sendAll(batch).catch(() => undefined);
      relayed[dir] += batch.length;
    }
  };
  const pumps = Promise.all([pump(tunA, tunB, 'ab'), pump(tunB, tunA, 'ba')]);
  return {
    a,
    b,
    tunA,
    tunB,
    relayed,
    async close() {
      await Promise.all([tunA.close(), tunB.close()]);
      await pumps;
    },
  };
}

export { run };
