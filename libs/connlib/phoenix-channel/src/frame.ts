// Phoenix JSON frames: {"topic", "event", "payload", "ref"} (join_ref ignored).
import { PhoenixChannelError } from './errors';

export interface InboundFrame {
  readonly topic: string;
  readonly event: string;
  /** `null` when absent. */
  readonly payload: unknown;
  /** Numeric ref (a numeric string is accepted), or null when absent/null. */
  readonly ref: number | null;
}

export const HEARTBEAT_TOPIC = 'phoenix';

/** Serializes an outbound frame with Firezone's key order; an `undefined` payload omits the key (unit event). */
export function serializeFrame(topic: string, event: string, payload: unknown, ref: number): string {
  return JSON.stringify({ topic, event, payload, ref });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses one websocket text frame; a typed `GARBAGE_FRAME` error for anything that is not an envelope. */
export function parseFrame(text: string): InboundFrame | PhoenixChannelError {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e: unknown) {
    return new PhoenixChannelError('GARBAGE_FRAME', `frame is not JSON (${text.length} chars)`, { cause: e });
  }
  if (!isRecord(json)) return new PhoenixChannelError('GARBAGE_FRAME', 'frame is not a JSON object');
  const { topic, event, payload, ref } = json;
  if (typeof topic !== 'string' || typeof event !== 'string') {
    return new PhoenixChannelError('GARBAGE_FRAME', 'frame lacks a string topic or event');
  }
  let r: number | null = null;
  if (typeof ref === 'number' && Number.isSafeInteger(ref) && ref >= 0) r = ref;
  else if (typeof ref === 'string' && /^[0-9]{1,15}$/.test(ref)) r = Number(ref);
  else if (ref !== undefined && ref !== null) return new PhoenixChannelError('GARBAGE_FRAME', `frame has an invalid ref`);
  return { topic, event, payload: payload ?? null, ref: r };
}

export type ReplyStatus = 'ok' | 'error';

export interface ReplyPayload {
  readonly status: ReplyStatus;
  readonly response: unknown;
}

/** Reads a phx_reply payload `{status, response}`. */
export function parseReplyPayload(payload: unknown): ReplyPayload | undefined {
  if (!isRecord(payload)) return undefined;
  const { status, response } = payload;
  if (status !== 'ok' && status !== 'error') return undefined;
  return { status, response: response ?? null };
}

/** The `reason` string of an error reply's response, if any. */
export function errorReason(response: unknown): string | undefined {
  return isRecord(response) && typeof response['reason'] === 'string' ? response['reason'] : undefined;
}

/** Firezone's ErrorReply display: "unmatched topic", "invalid version", "disabled", else "other". */
export function displayErrorReason(reason: string | undefined): string {
  switch (reason) {
    case 'unmatched topic':
      return 'unmatched topic';
    case 'invalid_version':
      return 'invalid version';
    case 'disabled':
      return 'disabled';
    default:
      return 'other';
  }
}

export { isRecord };
