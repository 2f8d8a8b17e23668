// Fuzzing the IPC: arbitrary bytes and arbitrary JSON into the decoder (never throws, never loses sync on
// well-formed frames), and arbitrary frames into a live service (every bad frame gets an Error reply, the
// service stays up). Prints how many inputs were tried and a few samples.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { IpcClient } from '../../src/ipc/client';
import { encodeFrame, FrameDecoder } from '../../src/ipc/codec';
import { GuiToServiceSchema, type ServiceToGui } from '../../src/ipc/messages';
import { IpcServer } from '../../src/ipc/server';
import { FakeBackend } from '../../src/service/fake-backend';
import { ServiceHandler } from '../../src/service/handler';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 400);

function frame(body: Uint8Array): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, body]);
}

const body = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.json().map((s) => Buffer.from(s)),
  fc
    .record({ type: fc.constantFrom('Connect', 'Disconnect', 'SetInternetResourceState', 'ApplyAdvancedSettings', 'StartTelemetry', 'ClearLogs', 'Nope'), token: fc.anything(), active: fc.anything(), settings: fc.anything() }, { requiredKeys: ['type'] })
    .map((o) => Buffer.from(JSON.stringify(o))),
);

describe('IPC fuzz', () => {
  it('the decoder never throws and a valid frame after any garbage frames still decodes', () => {
    let tried = 0;
    const samples: string[] = [];
    fc.assert(
      fc.property(fc.array(body, { maxLength: 6 }), fc.integer({ min: 1, max: 17 }), (bodies, chunk) => {
        tried++;
        if (samples.length < 3) samples.push(bodies.map((b) => Buffer.from(b).toString('hex').slice(0, 40)).join('|'));
        const d = new FrameDecoder(GuiToServiceSchema);
        const stream = Buffer.concat([...bodies.map(frame), encodeFrame({ type: 'ClearLogs' })]);
        const out = [];
        for (let i = 0; i < stream.length; i += chunk) out.push(...d.push(stream.subarray(i, i + chunk)));
        expect(out).toHaveLength(bodies.length + 1);
        expect(out.at(-1)).toEqual({ ok: true, value: { type: 'ClearLogs' } });
      }),
      { numRuns: RUNS },
    );
    process.stdout.write(`decoder: ${String(tried)} inputs tried; samples (hex): ${samples.join(' ; ')}\n`);
  });

  it('the service answers every frame and stays up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgui-fuzz-'));
    const path = join(dir, 'tunnel.sock');
    const log = pino({ level: 'silent' });
    const handler = new ServiceHandler({ backend: new FakeBackend(1), deviceId: 'd', version: '1', gitSha: 'x', logger: log, settings: { authUrl: 'http://127.0.0.1:9', apiUrl: 'ws://127.0.0.1:9', logFilter: 'info' } });
    const server = new IpcServer({ path, handler, logger: log, groupFile: join(dir, 'none') });
    await server.listen();
    let tried = 0;
    try {
      const got: ServiceToGui[] = [];
      const client = await IpcClient.connect(path, { onMessage: (m) => got.push(m), onClose: () => undefined });
      await expect.poll(() => got.length).toBe(1);
      await fc.assert(
        fc.asyncProperty(body, async (b) => {
          tried++;
          got.length = 0;
          const valid = GuiToServiceSchema.safeParse((() => { try { return JSON.parse(Buffer.from(b).toString('utf8')) as unknown; } catch { return undefined; } })()).success;
          client.sendRaw(frame(b));
          // a ClearLogs after it always gets its ClearedLogs: the connection is still in sync
          client.send({ type: 'ClearLogs' });
          await expect.poll(() => got.some((m) => m.type === 'ClearedLogs'), { timeout: 2000, interval: 2 }).toBe(true);
          if (!valid) expect(got.some((m) => m.type === 'Error')).toBe(true);
        }),
        { numRuns: Math.min(RUNS, 200) },
      );
      client.close();
    } finally {
      await handler.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
    process.stdout.write(`service: ${String(tried)} frames tried; it stayed up\n`);
  });
});
