import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { moduleLogger, setupLogging } from '../../src/index';

const dir = mkdtempSync(join(tmpdir(), 'plogs-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function sink(): { stream: Writable; text: () => string } {
  let buf = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => buf };
}

describe('setupLogging', () => {
  it('JSON: per-module levels from the filter, module names on child loggers, secrets redacted', async () => {
    const out = sink();
    const h = setupLogging({ format: 'json', filter: 'info,tunnel=debug,wire=trace', destination: out.stream, name: 'postern-gateway' });
    const tunnel = h.module('tunnel');
    const wire = moduleLogger(tunnel, 'wire'); // tunnel.wire: inherits tunnel=debug
    const portal = h.module('portal');
    tunnel.debug('tunnel debug');
    tunnel.trace('tunnel trace');
    wire.trace('wire trace');
    h.module('wire').trace({ token: 'secret-token', nested: { preshared_key: 'psk' } }, 'wire trace 2');
    portal.debug('portal debug');
    portal.info('portal info');
    await h.close();
    const lines = out.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['msg'])).toEqual(['tunnel debug', 'wire trace 2', 'portal info']);
    expect(lines[0]).toMatchObject({ module: 'tunnel', name: 'postern-gateway', level: 20 });
    expect(lines[1]).toMatchObject({ module: 'wire', token: '[REDACTED]', nested: { preshared_key: '[REDACTED]' } });
    expect(out.text()).not.toContain('secret-token');
  });

  it('human: pretty lines written in-process (no transport worker)', async () => {
    const out = sink();
    const h = setupLogging({ format: 'human', filter: 'warn', destination: out.stream, colorize: false });
    h.module('dns').warn({ password: 'hunter2' }, 'upstream slow');
    h.logger.info('hidden');
    await h.close();
    const text = out.text();
    expect(text).toMatch(/WARN.*dns: upstream slow/);
    expect(text).toContain('[REDACTED]');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('hidden');
  });

  it('writes a JSON log file next to a .latest link', async () => {
    const out = sink();
    const h = setupLogging({ format: 'human', destination: out.stream, file: { dir: join(dir, 'logs'), base: 'tunnel-service' } });
    h.logger.info({ a: 1 }, 'to both');
    await h.close();
    expect(h.filePath).toMatch(/tunnel-service\.\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.log$/);
    const line = JSON.parse(readFileSync(h.filePath ?? '', 'utf8').trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: 'to both', a: 1 });
    expect(readFileSync(join(dir, 'logs', 'tunnel-service.latest'), 'utf8')).toContain('to both');
  });
});
