import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, link, listNamespaces, removeLeftovers } from '../../src/netns';

const PREFIX = 'ptst';

describe('Netns', () => {
  let a: Netns;
  let b: Netns;
  beforeAll(async () => {
    removeLeftovers(PREFIX);
    a = await Netns.create(`${PREFIX}-a`);
    b = await Netns.create(`${PREFIX}-b`);
    await link(a, '198.18.60.1/24', b, '198.18.60.2/24', { a: `${PREFIX}-va`, b: `${PREFIX}-vb` });
  });
  afterAll(async () => {
    await a.destroy();
    await b.destroy();
    removeLeftovers(PREFIX);
  });

  it('connects two namespaces over a veth pair', async () => {
    const out = await a.exec('ping', ['-c', '1', '-W', '2', '198.18.60.2']);
    expect(out).toContain('1 received');
  });

  it('removes namespaces and the processes inside them', async () => {
    const c = await Netns.create(`${PREFIX}-c`);
    const child = c.spawn('sleep', ['60']);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await c.destroy();
    await exited;
    expect(listNamespaces(PREFIX)).not.toContain(`${PREFIX}-c`);
  });
});
