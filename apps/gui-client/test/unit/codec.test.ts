import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from '../../src/ipc/codec';
import { GuiToServiceSchema, ServiceToGuiSchema, type GuiToService, type ServiceToGui } from '../../src/ipc/messages';

const SETTINGS = { authUrl: 'http://127.0.0.1:8080', apiUrl: 'ws://127.0.0.1:8080', logFilter: 'info' };
const GUI_MESSAGES: GuiToService[] = [
  { type: 'Connect', token: 'tok', internetResourceActive: true },
  { type: 'Disconnect' },
  { type: 'SetInternetResourceState', active: false },
  { type: 'ApplyAdvancedSettings', settings: SETTINGS },
  { type: 'StartTelemetry', environment: 'on-prem', release: 'gui-client@1.0.0', accountSlug: 'demo' },
  { type: 'ClearLogs' },
];
const SERVICE_MESSAGES: ServiceToGui[] = [
  { type: 'Hello', deviceId: 'd', settings: SETTINGS, state: 'Idle', internetResourceActive: false, resources: [], version: '1' },
  { type: 'ConnectResult', ok: false, error: 'x', state: 'Idle' },
  { type: 'SessionState', state: 'WaitingForNetwork' },
  { type: 'OnUpdateResources', resources: [{ id: '1', type: 'cidr', name: 'n', address: '10.0.0.0/8', siteIds: ['s'], status: 'connected' }] },
  { type: 'OnDisconnect', error: 'token expired', requiresSignIn: true },
  { type: 'DisconnectedGracefully' },
  { type: 'AllGatewaysOffline' },
  { type: 'SettingsApplied', settings: SETTINGS },
  { type: 'ClearedLogs', ok: true },
  { type: 'TerminatingGracefully' },
  { type: 'Error', code: 'MALFORMED_FRAME', message: 'm' },
];

function frame(body: string | Uint8Array): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(b.length);
  return Buffer.concat([h, b]);
}

describe('IPC codec', () => {
  it('round-trips every GUI -> service message, one byte at a time', () => {
    const d = new FrameDecoder(GuiToServiceSchema);
    const all = Buffer.concat(GUI_MESSAGES.map((m) => encodeFrame(m)));
    const out = [];
    for (const byte of all) out.push(...d.push(Uint8Array.of(byte)));
    expect(out).toEqual(GUI_MESSAGES.map((value) => ({ ok: true, value })));
    expect(d.pending).toBe(0);
  });

  it('round-trips every service -> GUI message in one chunk', () => {
    const d = new FrameDecoder(ServiceToGuiSchema);
    const out = d.push(Buffer.concat(SERVICE_MESSAGES.map((m) => encodeFrame(m))));
    expect(out.map((r) => (r.ok ? r.value : r.error.code))).toEqual(SERVICE_MESSAGES);
  });

  it('reports non-JSON, invalid and unknown messages and keeps decoding the frames after them', () => {
    const d = new FrameDecoder(GuiToServiceSchema);
    const out = d.push(
      Buffer.concat([
        frame('{not json'),
        frame(Uint8Array.of(0xff, 0xfe)),
        frame('{"type":"Connect","token":""}'),
        frame('{"type":"Launch"}'),
        frame('{"type":"Disconnect","extra":1}'),
        frame('[]'),
        encodeFrame({ type: 'Disconnect' }),
      ]),
    );
    expect(out.map((r) => (r.ok ? 'ok' : `${r.error.code}${r.fatal ? '!' : ''}`))).toEqual([
      'MALFORMED_FRAME',
      'MALFORMED_FRAME',
      'INVALID_MESSAGE',
      'INVALID_MESSAGE',
      'INVALID_MESSAGE',
      'INVALID_MESSAGE',
      'ok',
    ]);
  });

  it('treats a length above the limit as fatal for the stream', () => {
    const d = new FrameDecoder(GuiToServiceSchema);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(MAX_FRAME_BYTES + 1);
    const out = d.push(Buffer.concat([h, encodeFrame({ type: 'Disconnect' })]));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ ok: false, fatal: true });
    expect(d.push(encodeFrame({ type: 'Disconnect' }))).toEqual([]);
  });

  it('refuses to encode a frame above the limit', () => {
    expect(() => encodeFrame({ type: 'Error', code: 'x', message: 'y'.repeat(MAX_FRAME_BYTES) })).toThrow(/larger than/);
  });
});
