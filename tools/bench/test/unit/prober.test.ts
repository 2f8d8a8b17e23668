import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { armFirstByteProber, proberTime } from '../../src/system';

describe('first-byte prober', () => {
  let server: Server | undefined;
  afterEach(async () => {
    const srv = server;
    server = undefined;
    if (srv !== undefined) await new Promise<void>((resolve) => { srv.close(() => { resolve(); }); });
  });

  it('is loaded and waiting before go, connects only after go, and reports the first byte after go', async () => {
    let connections = 0;
    const srv = createServer((s) => {
      connections++;
      s.end('x');
    });
    server = srv;
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const addr = srv.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    const prober = await armFirstByteProber([process.execPath], '127.0.0.1', addr.port);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(connections).toBe(0);
    const goAt = Date.now();
    prober.go();
    const t = await prober.result;
    expect(typeof t).toBe('number');
    expect(t).toBeGreaterThanOrEqual(goAt);
    expect(connections).toBe(1);
  });

  it('rejects when the prober cannot start', async () => {
    await expect(armFirstByteProber(['/nonexistent/node'], '127.0.0.1', 1)).rejects.toMatchObject({ code: 'NO_FIRST_BYTE' });
  });

  it('reads the first-byte time only from "ready" then epoch ms', () => {
    expect(proberTime('ready\n1764140000123\n')).toBe(1764140000123);
    expect(proberTime('ready\ntimeout\n')).toBeNull();
    expect(proberTime('1764140000123\n')).toBeNull();
    expect(proberTime('')).toBeNull();
  });
});
