// The Phoenix channel frame envelope and its control events (portal-protocol.md "Frames").
import { z } from 'zod';

export const PHOENIX_TOPIC = 'phoenix';
export const HEARTBEAT_EVENT = 'heartbeat';
export const JOIN_EVENT = 'phx_join';
export const REPLY_EVENT = 'phx_reply';
export const CLOSE_EVENT = 'phx_close';
export const ERROR_EVENT = 'phx_error';
export const DISCONNECT_EVENT = 'disconnect';
export const HEARTBEAT_INTERVAL_MS = 10_000;
export const JOIN_TIMEOUT_MS = 5_000;
export const MAX_UNANSWERED_HEARTBEATS = 3;

/** Request ids are numbers on the wire; some captures carry them as strings ("12"). */
export const RefSchema = z.union([z.number().int().nonnegative(), z.string(), z.null()]);
export type Ref = z.infer<typeof RefSchema>;

/** `{topic, event, payload, ref}`; `join_ref` (Phoenix v2 serializer) is accepted and dropped. */
export const PhoenixFrameSchema = z.object({
  topic: z.string(),
  event: z.string().min(1),
  payload: z.unknown().optional(),
  ref: RefSchema.optional(),
});
export type PhoenixFrame = z.infer<typeof PhoenixFrameSchema>;

/** What a message parser needs: an event name and its payload (topic and ref are ignored). */
export interface EventAndPayload {
  readonly event: string;
  readonly payload?: unknown;
}

export type FrameParse = { ok: true; frame: PhoenixFrame } | { ok: false; error: string };

/** Parses one websocket text frame. Never throws. */
export function parseFrame(text: string): FrameParse {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `malformed JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const parsed = PhoenixFrameSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, error: `not a Phoenix frame: ${formatIssues(parsed.error)}` };
  return { ok: true, frame: parsed.data };
}

/**
 * Serialises a frame with Firezone's key order (`topic, event, payload, ref`). A frame without
 * `payload` is sent without the key (a Rust unit variant); `ref` defaults to null.
 */
export function encodeFrame(frame: { topic: string; event: string; payload?: unknown; ref?: Ref | undefined }): string {
  const out: Record<string, unknown> = { topic: frame.topic, event: frame.event };
  if (frame.payload !== undefined) out['payload'] = frame.payload;
  out['ref'] = frame.ref ?? null;
  return JSON.stringify(out);
}

export function heartbeatFrame(ref: number): string {
  return encodeFrame({ topic: PHOENIX_TOPIC, event: HEARTBEAT_EVENT, payload: {}, ref });
}

export function joinFrame(topic: string, ref: number, payload: unknown = null): string {
  return encodeFrame({ topic, event: JOIN_EVENT, payload, ref });
}

export function replyFrame(topic: string, ref: Ref, status: 'ok' | 'error', response: unknown = {}): string {
  return encodeFrame({ topic, event: REPLY_EVENT, payload: { status, response }, ref });
}

export const ReplyPayloadSchema = z.object({ status: z.enum(['ok', 'error']), response: z.unknown().optional() });

/** Error reply reasons (Firezone `ErrorReply`): unknown strings map to `other`. */
export type ErrorReplyReason = 'unmatched_topic' | 'invalid_version' | 'disabled' | 'other';

export function errorReplyReason(response: unknown): ErrorReplyReason {
  const parsed = z.object({ reason: z.string() }).safeParse(response);
  if (!parsed.success) return 'other';
  switch (parsed.data.reason) {
    case 'unmatched topic':
      return 'unmatched_topic';
    case 'invalid_version':
      return 'invalid_version';
    case 'disabled':
      return 'disabled';
    default:
      return 'other';
  }
}

export type PhoenixControl =
  | { kind: 'join'; topic: string; ref: Ref; payload: unknown }
  | { kind: 'heartbeat'; ref: Ref }
  | { kind: 'reply-ok'; topic: string; ref: Ref; response: unknown }
  | { kind: 'reply-error'; topic: string; ref: Ref; reason: ErrorReplyReason; response: unknown }
  | { kind: 'close'; topic: string }
  | { kind: 'error'; topic: string }
  | { kind: 'disconnect'; topic: string; reason: 'token_expired' | 'other' }
  | { kind: 'invalid'; error: string }
  | { kind: 'message'; frame: PhoenixFrame };

/** Sorts a frame into a Phoenix control event or an ordinary `message` for the topic's parser. */
export function classifyFrame(frame: PhoenixFrame): PhoenixControl {
  const ref = frame.ref ?? null;
  switch (frame.event) {
    case JOIN_EVENT:
      return { kind: 'join', topic: frame.topic, ref, payload: frame.payload ?? null };
    case HEARTBEAT_EVENT:
      return frame.topic === PHOENIX_TOPIC ? { kind: 'heartbeat', ref } : { kind: 'message', frame };
    case REPLY_EVENT: {
      const reply = ReplyPayloadSchema.safeParse(frame.payload);
      if (!reply.success) return { kind: 'invalid', error: `phx_reply: ${formatIssues(reply.error)}` };
      const response = reply.data.response ?? null;
      return reply.data.status === 'ok'
        ? { kind: 'reply-ok', topic: frame.topic, ref, response }
        : { kind: 'reply-error', topic: frame.topic, ref, reason: errorReplyReason(response), response };
    }
    case CLOSE_EVENT:
      return { kind: 'close', topic: frame.topic };
    case ERROR_EVENT:
      return { kind: 'error', topic: frame.topic };
    case DISCONNECT_EVENT: {
      const reason = z.object({ reason: z.string() }).safeParse(frame.payload);
      return {
        kind: 'disconnect',
        topic: frame.topic,
        reason: reason.success && reason.data.reason === 'token_expired' ? 'token_expired' : 'other',
      };
    }
    default:
      return { kind: 'message', frame };
  }
}

/** `path: message; path: message` from a zod error (one line, for logs and error replies). */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
