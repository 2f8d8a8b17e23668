// DNS over TCP framing (RFC 1035 section 4.2.2, RFC 7766): each message is preceded by a two-byte
// big-endian length. The decoder takes stream chunks of any size and yields whole messages.

export const MAX_DNS_TCP_MESSAGE = 0xffff;

/** Prefixes a message with its length; undefined if it is longer than 65535 bytes. */
export function encodeTcpFrame(message: Uint8Array): Uint8Array | undefined {
  if (message.byteLength > MAX_DNS_TCP_MESSAGE) return undefined;
  const out = new Uint8Array(message.byteLength + 2);
  out[0] = message.byteLength >> 8;
  out[1] = message.byteLength & 0xff;
  out.set(message, 2);
  return out;
}

/** Reassembles length-prefixed messages from a byte stream (one decoder per TCP connection). */
export class DnsTcpDecoder {
  private buffer = new Uint8Array(0);

  /** Appends `chunk` and returns every message completed by it (copies, in order). */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.byteLength > 0) {
      const joined = new Uint8Array(this.buffer.byteLength + chunk.byteLength);
      joined.set(this.buffer, 0);
      joined.set(chunk, this.buffer.byteLength);
      this.buffer = joined;
    }
    const out: Uint8Array[] = [];
    let offset = 0;
    for (;;) {
      if (this.buffer.byteLength - offset < 2) break;
      const len = ((this.buffer[offset] ?? 0) << 8) | (this.buffer[offset + 1] ?? 0);
      if (this.buffer.byteLength - offset - 2 < len) break;
      out.push(this.buffer.slice(offset + 2, offset + 2 + len));
      offset += 2 + len;
    }
    if (offset > 0) this.buffer = this.buffer.slice(offset);
    return out;
  }

  /** Bytes held for an incomplete message (at most 65536 + the last chunk). */
  get pendingBytes(): number {
    return this.buffer.byteLength;
  }
}
