// Inbound message decoding: the channel is generic over the caller's message type.
import { type InboundFrame } from './frame';

export type DecodeResult<T> =
  | { readonly ok: true; readonly value: T; readonly warnings?: readonly string[] }
  | { readonly ok: false; readonly error: unknown; readonly reason?: 'unknown_event' | 'invalid' | 'ignored' };

/** The result shape of @postern/model's topic parsers (`parseClientIngress`, `parseGatewayIngress`, ...). */
export type ModelParseResult<T> =
  | { readonly kind: 'message'; readonly msg: T; readonly warnings: readonly string[] }
  | { readonly kind: 'unknown-event'; readonly event: string }
  | { readonly kind: 'skipped'; readonly event: string; readonly reason: string }
  | { readonly kind: 'invalid'; readonly event: string; readonly error: string };

/** Anything with zod's `safeParse` shape (a zod schema of `{event, payload}` objects). */
export interface SafeParser<T> {
  safeParse(input: unknown): { success: true; data: T } | { success: false; error: unknown };
}

/**
 * Decodes inbound pushes (every event except the channel's own phx_reply/phx_close/phx_error/disconnect) into
 * the caller's message type: a function of the frame returning a `DecodeResult` or a @postern/model
 * `ParseResult` (e.g. `parseClientIngress` as is), or a zod schema that is given `{topic, event, payload}`.
 * A failure means "unknown event, ignored or bad payload": skipped and counted, never fatal.
 */
export type InboundDecoder<T> = ((frame: InboundFrame) => DecodeResult<T> | ModelParseResult<T>) | SafeParser<T>;

export function decodeWith<T>(decoder: InboundDecoder<T>, frame: InboundFrame): DecodeResult<T> {
  if (typeof decoder !== 'function') {
    const r = decoder.safeParse({ topic: frame.topic, event: frame.event, payload: frame.payload });
    return r.success ? { ok: true, value: r.data } : { ok: false, error: r.error, reason: 'invalid' };
  }
  const r = decoder(frame);
  if ('ok' in r) return r;
  switch (r.kind) {
    case 'message':
      return { ok: true, value: r.msg, warnings: r.warnings };
    case 'unknown-event':
      return { ok: false, error: new Error(`unknown event ${r.event}`), reason: 'unknown_event' };
    case 'skipped':
      return { ok: false, error: new Error(r.reason), reason: 'ignored' };
    case 'invalid':
      return { ok: false, error: new Error(r.error), reason: 'invalid' };
  }
}

export const SKIP_CODE = { unknown_event: 'UNKNOWN_EVENT', invalid: 'INVALID_PAYLOAD', ignored: 'IGNORED_MESSAGE' } as const;

