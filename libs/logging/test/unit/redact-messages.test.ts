// Secrets in the places the key-based formatter does not see: message strings, error texts, child bindings.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { setupLogging, type LogFormat } from '../../src/index';

async function logAll(format: LogFormat): Promise<string> {
  let buf = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  const h = setupLogging({ format, filter: 'trace', destination: stream, colorize: false });
  h.logger.info('connecting to wss://portal.example/client/v2/websocket?token=SECRET-IN-MSG&x=1');
  h.logger.info('%s', 'wss://portal.example/?token=SECRET-IN-FORMAT-ARG');
  h.logger.warn({ err: new Error('upgrade of wss://portal.example/?token=SECRET-IN-ERR failed') }, 'portal unreachable');
  h.logger.child({ token: 'SECRET-IN-CHILD', stamp_secret: 'SECRET-STAMP' }).info('child');
  h.module('tunnel').child({ private_key: 'SECRET-KEY' }).info('grandchild');
  h.logger.info({ nested: { preshared_key: 'SECRET-PSK' }, headers: { 'x-authorization': 'Bearer SECRET-HEADER' } }, 'objects');
  await h.close();
  return buf;
}

describe('loggers redact secrets', () => {
  for (const format of ['json', 'human'] as const) {
    it(`${format}: in messages, format arguments, errors and child bindings`, async () => {
      const text = await logAll(format);
      expect(text).not.toMatch(/SECRET-/);
      expect(text.match(/\[REDACTED\]/g)?.length ?? 0).toBeGreaterThanOrEqual(9);
      expect(text).toContain('portal unreachable'); // the lines themselves are kept
      expect(text).toContain('grandchild');
    });
  }
});
