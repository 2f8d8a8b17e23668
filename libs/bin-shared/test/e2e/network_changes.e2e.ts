// Real kernel: the rtnetlink listener inside a throwaway network namespace.
import { Netns, removeLeftovers } from '../support/netns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newNetworkNotifier, type ChangeNotifier } from '../../src/index';

const NS = 'pbs-nc';
const TUN = 'tun-postern';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts the events that arrive within `ms`. */
async function countEvents(n: ChangeNotifier, ms: number): Promise<number> {
  let count = 0;
  const loop = (async () => {
    for (;;) {
      const more = await n.notified();
      if (!more) break;
      count++;
    }
  })();
  await sleep(ms);
  await n.close();
  await loop;
  return count;
}

describe('network notifier in a network namespace', () => {
  let ns: Netns;
  beforeAll(async () => {
    removeLeftovers('pbs-nc');
    ns = await Netns.create(NS);
    await ns.exec('ip', ['link', 'add', 'pbs-nc0', 'type', 'veth', 'peer', 'name', 'pbs-nc1']);
    for (const l of ['pbs-nc0', 'pbs-nc1']) {
      await ns.exec('ip', ['link', 'set', l, 'addrgenmode', 'none']);
      await ns.exec('ip', ['link', 'set', l, 'up']);
    }
    await ns.exec('ip', ['tuntap', 'add', 'dev', TUN, 'mode', 'tun']);
    await ns.exec('ip', ['link', 'set', TUN, 'addrgenmode', 'none']);
    await sleep(200);
  });
  afterAll(async () => {
    await ns.destroy();
    removeLeftovers('pbs-nc');
  });

  it('emits one event at start and exactly one for an address added to a link', async () => {
    const n = await newNetworkNotifier({ tunName: TUN, netnsPath: `/run/netns/${NS}`, debounceMs: 100 });
    expect(await n.notified()).toBe(true); // the start event
    const counting = countEvents(n, 1500);
    await sleep(100);
    await ns.exec('ip', ['addr', 'add', '198.18.12.10/24', 'dev', 'pbs-nc0']);
    expect(await counting).toBe(1);
  });

  it('ignores changes to our TUN and repeated announcements', async () => {
    const n = await newNetworkNotifier({ tunName: TUN, netnsPath: `/run/netns/${NS}`, debounceMs: 100 });
    expect(await n.notified()).toBe(true);
    const counting = countEvents(n, 1500);
    await sleep(100);
    await ns.exec('ip', ['link', 'set', TUN, 'mtu', '1280']);
    await ns.exec('ip', ['link', 'set', TUN, 'up']);
    await ns.exec('ip', ['addr', 'add', '100.64.0.1/32', 'dev', TUN]);
    await ns.exec('ip', ['addr', 'add', 'fd00:2021:1111::1/128', 'dev', TUN, 'nodad']);
    await ns.exec('ip', ['route', 'add', '100.96.0.0/11', 'dev', TUN]);
    await ns.exec('ip', ['route', 'add', '10.0.0.0/8', 'dev', TUN, 'table', String(0x2021_7073)]);
    // an existing route replaced by the same one: no change
    await ns.exec('ip', ['route', 'replace', '198.18.12.0/24', 'dev', 'pbs-nc0', 'proto', 'kernel', 'scope', 'link', 'src', '198.18.12.10']);
    expect(await counting).toBe(0);
  });

  it('debounces a burst into one event and stops cleanly', async () => {
    const n = await newNetworkNotifier({ tunName: TUN, netnsPath: `/run/netns/${NS}`, debounceMs: 200 });
    expect(await n.notified()).toBe(true);
    const counting = countEvents(n, 1500);
    await sleep(100);
    // one process, so the burst is not stretched by process start-up on a loaded machine
    await ns.exec('sh', ['-c', 'ip addr add 198.18.12.11/24 dev pbs-nc0 && ip addr add 198.18.12.12/24 dev pbs-nc0 && ip route add 203.0.113.0/24 via 198.18.12.1']);
    expect(await counting).toBe(1);
  });
});
