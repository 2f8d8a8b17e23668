import { describe, expect, it } from 'vitest';
import { classifyFrame, encodeFrame, heartbeatFrame, joinFrame, parseFrame, parseProblemDetails, requiresSignIn } from '../../src/index';
import { loadCases } from '../fixtures/load';

const frames = loadCases('phoenix-frames.json').filter((c) => c['kind'] === 'frame');
const problems = loadCases('portal-websocket-upgrade.json').filter((c) => c['kind'] === 'problem_details' || c['kind'] === 'http_upgrade_response');

describe('Phoenix frames (phoenix-frames.json)', () => {
  it.each(frames.map((c) => [c.id, c] as const))('%s parses as a frame', (_id, c) => {
    const text = c['raw'] ?? JSON.stringify(c['json']);
    const parsed = parseFrame(text);
    expect(parsed.ok).toBe(c['expect'] === 'ok');
  });

  it('encodes client frames byte-for-byte', () => {
    for (const c of frames.filter((x) => x['exact_string'] === true)) expect(encodeFrame(c['json'])).toBe(c['raw']);
    expect(heartbeatFrame(3)).toBe('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":3}');
    expect(joinFrame('test', 0)).toBe('{"topic":"test","event":"phx_join","payload":null,"ref":0}');
  });

  it('classifies replies, close and disconnect', () => {
    const classify = (id: string) => {
      const c = frames.find((x) => x.id === id);
      const p = parseFrame(JSON.stringify(c?.['json']));
      if (!p.ok) throw new Error(p.error);
      return classifyFrame(p.frame);
    };
    expect(classify('reply_error_unmatched_topic')).toMatchObject({ kind: 'reply-error', reason: 'unmatched_topic', ref: '12' });
    expect(classify('reply_error_unknown_reason')).toMatchObject({ kind: 'reply-error', reason: 'other' });
    expect(classify('reply_error_invalid_version')).toMatchObject({ kind: 'reply-error', reason: 'invalid_version' });
    expect(classify('reply_error_disabled_full_frame')).toMatchObject({ kind: 'reply-error', reason: 'disabled', ref: null });
    expect(classify('close')).toEqual({ kind: 'close', topic: 'client' });
    expect(classify('disconnect_token_expired')).toMatchObject({ kind: 'disconnect', reason: 'token_expired' });
    expect(classify('join_reply_ok')).toMatchObject({ kind: 'reply-ok', ref: 0, response: {} });
    expect(classify('heartbeat_ref_1')).toEqual({ kind: 'heartbeat', ref: 1 });
    expect(classify('join_request')).toMatchObject({ kind: 'join', topic: 'test', ref: 0, payload: null });
    expect(classify('inbound_custom_event_with_join_ref')).toMatchObject({ kind: 'message' });
  });

  it('refuses malformed JSON and non-frames without throwing', () => {
    expect(parseFrame('{not json')).toMatchObject({ ok: false });
    expect(parseFrame('[]')).toMatchObject({ ok: false });
    expect(parseFrame('{"topic":"client"}')).toMatchObject({ ok: false });
    expect(parseFrame('{"topic":"client","event":"x","ref":-1}')).toMatchObject({ ok: false });
  });
});

describe('problem details of a refused upgrade (portal-websocket-upgrade.json)', () => {
  it.each(problems.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const details = parseProblemDetails(c['content_type'], c['body']);
    if (c['kind'] === 'problem_details') {
      expect(details !== undefined).toBe(c['expect'] === 'ok');
      if (details) expect(details.code ?? null).toBe(c['asserts'].code ?? null);
    } else if (c['asserts']?.requires_sign_in !== undefined) {
      expect(requiresSignIn(details)).toBe(c['asserts'].requires_sign_in);
    }
  });
});
