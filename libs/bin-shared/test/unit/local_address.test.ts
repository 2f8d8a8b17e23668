// outwardAddress (src/local_address.ts): the kernel's source address towards the portal, loopback only
// (a connected UDP socket: nothing is sent).
import { describe, expect, it } from 'vitest';
import { outwardAddress } from '../../src/index';

describe('outwardAddress', () => {
  it('is the source address of the route to the portal, for either family and any URL form', async () => {
    await expect(outwardAddress('ws://127.0.0.1:9/')).resolves.toBe('127.0.0.1');
    await expect(outwardAddress('wss://127.0.0.2')).resolves.toBe('127.0.0.1');
    await expect(outwardAddress('https://[::1]/api')).resolves.toBe('::1');
  });

  it('rejects what is not a URL (before any lookup)', async () => {
    await expect(outwardAddress('not a url')).rejects.toMatchObject({ code: 'ERR_INVALID_URL' });
  });
});
