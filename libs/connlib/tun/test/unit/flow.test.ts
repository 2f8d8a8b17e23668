import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flowQueue, openTun, TunError, UnsupportedPlatformError } from '../../src/index';
import { openUnsupportedTun } from '../../src/unsupported';
import { udp4 } from '../support/packets';

describe('flowQueue', () => {
  it('sends every packet of one flow to the same queue, whatever the payload', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 2, max: 16 }), fc.uint8Array({ maxLength: 200 }), (sp, dp, queues, payload) => {
        const a = udp4('100.64.0.1', sp, '10.0.0.1', dp, new Uint8Array(0));
        const b = udp4('100.64.0.1', sp, '10.0.0.1', dp, payload);
        const q = flowQueue(a, queues);
        expect(q).toBe(flowQueue(b, queues));
        expect(q).toBeGreaterThanOrEqual(0);
        expect(q).toBeLessThan(queues);
      }),
    );
  });

  it('spreads different flows over the queues', () => {
    const counts = [0, 0, 0, 0];
    for (let port = 1000; port < 5000; port++) {
      const q = flowQueue(udp4('100.64.0.1', port, '10.0.0.1', 443, new Uint8Array(8)), 4);
      counts[q] = (counts[q] ?? 0) + 1;
    }
    for (const c of counts) expect(c).toBeGreaterThan(600);
  });

  it('puts everything on queue 0 with one queue, and unparseable packets on queue 0', () => {
    expect(flowQueue(udp4('1.2.3.4', 1, '5.6.7.8', 2, new Uint8Array(1)), 1)).toBe(0);
    expect(flowQueue(new Uint8Array([0x45]), 4)).toBe(0);
    expect(flowQueue(new Uint8Array(0), 4)).toBe(0);
  });

  it('hashes IPv6 flows', () => {
    const p = new Uint8Array(48);
    p[0] = 0x60;
    p[6] = 17;
    const q = flowQueue(p, 8);
    p[47] = 9; // payload byte: same flow
    expect(flowQueue(p, 8)).toBe(q);
  });
});

describe('TUN errors and platform stubs', () => {
  it('Windows and macOS stubs reject with UNSUPPORTED_PLATFORM', async () => {
    await expect(openUnsupportedTun('win32')).rejects.toBeInstanceOf(UnsupportedPlatformError);
    await expect(openUnsupportedTun('darwin')).rejects.toMatchObject({ code: 'UNSUPPORTED_PLATFORM', platform: 'darwin' });
  });

  it('validates options before touching the device', async () => {
    await expect(openTun({ name: 'this-name-is-too-long' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(openTun({ name: 'ptunx', queues: 0 })).rejects.toBeInstanceOf(TunError);
    await expect(openTun({ name: 'ptunx', channelCapacity: 1000 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('keeps errno and cause', () => {
    const cause = new Error('root');
    const e = new TunError('IOCTL_FAILED', 'TUNSETIFF x: busy', { cause, errno: 16 });
    expect(e).toMatchObject({ code: 'IOCTL_FAILED', errno: 16, cause });
  });
});
