import { mkdirSync, mkdtempSync, readlinkSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { enforceLogSizeCap, logFileName, prepareLogFile } from '../../src/index';

const dir = mkdtempSync(join(tmpdir(), 'plog-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('log files', () => {
  it('names files <base>.<YYYY-MM-DD-HH-MM-SS>.log and points <base>.latest at the newest', () => {
    expect(logFileName('tunnel-service', new Date(Date.UTC(2026, 0, 2, 3, 4, 5)))).toBe('tunnel-service.2026-01-02-03-04-05.log');
    const logs = join(dir, 'a');
    const p1 = prepareLogFile(logs, 'svc', new Date(Date.UTC(2026, 0, 2, 3, 4, 5)));
    writeFileSync(p1, 'x');
    const p2 = prepareLogFile(logs, 'svc', new Date(Date.UTC(2026, 0, 2, 3, 4, 5))); // same second: suffixed
    expect(p1).toBe(join(logs, 'svc.2026-01-02-03-04-05.log'));
    expect(p2).toBe(join(logs, 'svc.2026-01-02-03-04-05-1.log'));
    expect(readlinkSync(join(logs, 'svc.latest'))).toBe('svc.2026-01-02-03-04-05-1.log');
  });

  it('deletes the oldest files across directories until under the cap, never the current one', () => {
    const d1 = join(dir, 'c1');
    const d2 = join(dir, 'c2');
    mkdirSync(d1);
    mkdirSync(d2);
    const file = (d: string, name: string, size: number, age: number): string => {
      const p = join(d, name);
      writeFileSync(p, Buffer.alloc(size));
      const t = Date.now() / 1000 - age;
      utimesSync(p, t, t);
      return p;
    };
    const oldest = file(d1, 'a.1.log', 400, 400);
    const old = file(d2, 'b.1.log', 400, 300);
    const current = file(d1, 'a.2.log', 400, 500); // oldest mtime but being written
    const newest = file(d2, 'b.2.log', 400, 100);
    file(d1, 'notes.txt', 5000, 1000);
    const r = enforceLogSizeCap([d1, d2, join(dir, 'missing')], 900, [current]);
    expect(r.deleted).toEqual([oldest, old]);
    expect(r.totalBytes).toBe(800);
    expect(existsSync(current) && existsSync(newest)).toBe(true);
  });
});
