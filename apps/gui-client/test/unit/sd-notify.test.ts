import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sdNotify, sockaddrUn } from '../../src/service/sd-notify';

const hasPython = spawnSync('python3', ['-c', 'pass']).status === 0;

describe('sd_notify', () => {
  it('does nothing without NOTIFY_SOCKET', () => {
    expect(sdNotify('READY=1', {})).toBe(false);
  });

  it('builds sockaddr_un for paths and abstract names', () => {
    const p = sockaddrUn('/run/x');
    expect(p.len).toBe(2 + 7);
    expect(Buffer.from(p.addr.subarray(2, 8)).toString()).toBe('/run/x');
    const a = sockaddrUn('@abs');
    expect(a.len).toBe(2 + 4);
    expect(a.addr[2]).toBe(0);
    expect(Buffer.from(a.addr.subarray(3, 6)).toString()).toBe('abs');
    expect(() => sockaddrUn('/' + 'x'.repeat(200))).toThrow(/too long/);
  });

  it.skipIf(!hasPython)('sends READY=1 as one datagram to the socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgui-notify-'));
    const path = join(dir, 'notify');
    try {
      const py = spawn('python3', ['-c', `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound',flush=True)\nprint(s.recv(100).decode(),flush=True)`, path]);
      let out = '';
      py.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      await expect.poll(() => out.includes('bound'), { timeout: 10_000 }).toBe(true);
      expect(sdNotify('READY=1', { NOTIFY_SOCKET: path })).toBe(true);
      await expect.poll(() => out).toContain('READY=1');
      py.kill();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
