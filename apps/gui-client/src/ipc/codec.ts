// Length-prefixed JSON frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON. Sans-IO: the
// decoder takes chunks and returns frames; a frame that is not JSON or does not validate is an error result
// (the connection goes on); a length above the limit cannot be resynchronised and is fatal for the stream.
import type { z } from 'zod';
import { IpcError } from './messages';

/** Largest frame body accepted (a resource list of 10,000 entries fits). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  if (body.length > MAX_FRAME_BYTES) throw new IpcError('FRAME_TOO_LARGE', `frame of ${String(body.length)} bytes is larger than ${String(MAX_FRAME_BYTES)}`);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: IpcError; readonly fatal: boolean };

/** Splits a byte stream into frames and validates each against `schema`. */
export class FrameDecoder<S extends z.ZodType> {
  private buf: Buffer = Buffer.alloc(0);
  private broken = false;

  constructor(
    private readonly schema: S,
    private readonly maxBytes = MAX_FRAME_BYTES,
  ) {}

  /** Bytes buffered (an incomplete frame). */
  get pending(): number {
    return this.buf.length;
  }

  push(chunk: Uint8Array): Decoded<z.infer<S>>[] {
    if (this.broken) return [];
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: Decoded<z.infer<S>>[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > this.maxBytes) {
        this.broken = true;
        this.buf = Buffer.alloc(0);
        out.push({ ok: false, fatal: true, error: new IpcError('FRAME_TOO_LARGE', `frame length ${String(len)} is larger than ${String(this.maxBytes)}`) });
        return out;
      }
      if (this.buf.length < 4 + len) break;
      const body = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      out.push(decodeBody(this.schema, body));
    }
    return out;
  }
}

export function decodeBody<S extends z.ZodType>(schema: S, body: Uint8Array): Decoded<z.infer<S>> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (err) {
    return { ok: false, fatal: false, error: new IpcError('MALFORMED_FRAME', 'frame is not UTF-8 JSON', { cause: err }) };
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.map(String).join('.')}: `;
    return { ok: false, fatal: false, error: new IpcError('INVALID_MESSAGE', `invalid message: ${where}${issue?.message ?? 'invalid'}`) };
  }
  return { ok: true, value: r.data };
}
