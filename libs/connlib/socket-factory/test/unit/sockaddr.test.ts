import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bindUdp, parseSocketAddr, SocketError, UnsupportedPlatformError } from '../../src/index';
import { SockaddrCache, readSockaddr, writeSockaddr } from '../../src/sockaddr';

describe('socket addresses', () => {
  it('parses ip:port forms and folds IPv4-mapped IPv6 into IPv4', () => {
    expect(parseSocketAddr('198.18.9.1:52625')).toEqual({ family: 4, address: '198.18.9.1', port: 52625, key: '198.18.9.1:52625' });
    expect(parseSocketAddr('[fd00::1]:1')).toMatchObject({ family: 6, key: '[fd00::1]:1' });
    expect(parseSocketAddr('::ffff:10.0.0.1', 5)).toMatchObject({ family: 4, address: '10.0.0.1' });
    expect(() => parseSocketAddr('nope')).toThrow(SocketError);
    expect(() => parseSocketAddr('1.2.3.4:70000')).toThrow(expect.objectContaining({ code: 'INVALID_ADDRESS' }));
  });

  it('round-trips sockaddr_in and sockaddr_in6, and v4 through a dual-stack v6 sockaddr', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV6(), fc.integer({ min: 0, max: 65535 }), fc.boolean(), (v4, v6, port, asV6) => {
        const buf = new Uint8Array(40);
        const a4 = parseSocketAddr(v4, port);
        writeSockaddr(buf, 4, a4, asV6);
        expect(readSockaddr(buf, 4)).toMatchObject({ family: 4, address: a4.address, port });
        const a6 = parseSocketAddr(v6, port);
        if (a6.family === 6) {
          writeSockaddr(buf, 4, a6, true);
          const back = readSockaddr(buf, 4);
          const norm = (s: string): string => new URL(`http://[${s}]/`).hostname;
          expect(norm(back.address)).toBe(norm(a6.address));
        }
      }),
    );
  });

  it('refuses an IPv6 destination on an IPv4 socket', () => {
    expect(() => writeSockaddr(new Uint8Array(32), 0, parseSocketAddr('[::1]:1'), false)).toThrow(expect.objectContaining({ code: 'INVALID_ADDRESS' }));
  });

  it('the receive cache returns one object per distinct source', () => {
    const cache = new SockaddrCache();
    const bytes = new Uint8Array(64);
    const meta = new Int32Array(bytes.buffer);
    writeSockaddr(bytes, 0, parseSocketAddr('10.0.0.1:5'), false);
    const a = cache.get(meta, 0, bytes, 0);
    expect(cache.get(meta, 0, bytes, 0)).toBe(a);
    writeSockaddr(bytes, 0, parseSocketAddr('10.0.0.2:5'), false);
    const b = cache.get(meta, 0, bytes, 0);
    expect(b.key).toBe('10.0.0.2:5');
    writeSockaddr(bytes, 0, parseSocketAddr('10.0.0.1:5'), false);
    expect(cache.get(meta, 0, bytes, 0)).toBe(a);
  });

  it('UnsupportedPlatformError and option errors carry stable codes', async () => {
    expect(new UnsupportedPlatformError('win32', 'batched UDP')).toMatchObject({ code: 'UNSUPPORTED_PLATFORM' });
    await expect(bindUdp({ recvCapacity: 3 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(bindUdp({ backend: 'dgram', mark: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
