// ChannelData messages (RFC 8656 §12.4): 2-byte channel number, 2-byte length, payload (padding only on TCP).
import { CHANNEL_DATA_HEADER_LENGTH, FIRST_CHANNEL, LAST_CHANNEL } from './constants';
import { StunError } from './errors';

export interface ChannelData {
  readonly channel: number;
  /** A view of the payload inside the input (no copy). */
  readonly data: Uint8Array;
}

export type ChannelDataResult = { readonly ok: true; readonly value: ChannelData } | { readonly ok: false; readonly error: StunError };

/** True if `channel` is a valid TURN channel number (0x4000-0x4FFF, or up to `lastChannel`, e.g. 0x7FFF). */
export function isValidChannel(channel: number, lastChannel: number = LAST_CHANNEL): boolean {
  return Number.isInteger(channel) && channel >= FIRST_CHANNEL && channel <= lastChannel;
}

/** Reads the channel number of a ChannelData header (no validation). */
export function channelNumberOf(b: Uint8Array, offset = 0): number {
  return ((b[offset] ?? 0) << 8) | (b[offset + 1] ?? 0);
}

/**
 * Hot-path check without allocation: the payload length of a ChannelData message in `b[offset..offset+len)`,
 * or -1 if it is not one (shorter than 4 bytes, channel outside 0x4000-0x4FFF, payload shorter than the
 * header says). Trailing bytes past the length (padding) are allowed and ignored.
 */
export function channelDataPayloadLength(b: Uint8Array, offset = 0, len = b.length - offset, lastChannel: number = LAST_CHANNEL): number {
  if (len < CHANNEL_DATA_HEADER_LENGTH) return -1;
  const first = b[offset] ?? 0;
  if (first < 0x40 || first > lastChannel >> 8) return -1;
  const n = ((b[offset + 2] ?? 0) << 8) | (b[offset + 3] ?? 0);
  return n > len - CHANNEL_DATA_HEADER_LENGTH ? -1 : n;
}

/** Decodes a ChannelData message (the relay's rules: trailing padding allowed). Never throws. */
export function decodeChannelData(b: Uint8Array, lastChannel: number = LAST_CHANNEL): ChannelDataResult {
  if (b.length < CHANNEL_DATA_HEADER_LENGTH) {
    return { ok: false, error: new StunError('TRUNCATED', `${b.length} bytes is shorter than a ChannelData header`) };
  }
  const channel = channelNumberOf(b);
  if (!isValidChannel(channel, lastChannel)) {
    return { ok: false, error: new StunError('BAD_CHANNEL', `channel 0x${channel.toString(16)} outside 0x4000-0x${lastChannel.toString(16)}`) };
  }
  const n = ((b[2] ?? 0) << 8) | (b[3] ?? 0);
  if (n > b.length - CHANNEL_DATA_HEADER_LENGTH) {
    return { ok: false, error: new StunError('TRUNCATED', `ChannelData length ${n} exceeds the ${b.length - 4} bytes present`) };
  }
  return { ok: true, value: { channel, data: b.subarray(CHANNEL_DATA_HEADER_LENGTH, CHANNEL_DATA_HEADER_LENGTH + n) } };
}

/**
 * In-place framing: writes the 4-byte header at `offset`, in front of a payload of `payloadLength` bytes
 * already at `offset + 4` (the caller reserved the header room in its buffer).
 */
export function writeChannelDataHeader(buf: Uint8Array, offset: number, channel: number, payloadLength: number): void {
  buf[offset] = (channel >> 8) & 0xff;
  buf[offset + 1] = channel & 0xff;
  buf[offset + 2] = (payloadLength >> 8) & 0xff;
  buf[offset + 3] = payloadLength & 0xff;
}

/** Allocating convenience: a new ChannelData message. Throws StunError('ENCODE') on a bad channel or size. */
export function encodeChannelData(channel: number, payload: Uint8Array, lastChannel: number = LAST_CHANNEL): Uint8Array {
  if (!isValidChannel(channel, lastChannel)) throw new StunError('ENCODE', `channel 0x${channel.toString(16)} outside 0x4000-0x4FFF`);
  if (payload.length > 0xffff) throw new StunError('ENCODE', 'ChannelData payload longer than 65535 bytes');
  const out = new Uint8Array(CHANNEL_DATA_HEADER_LENGTH + payload.length);
  writeChannelDataHeader(out, 0, channel, payload.length);
  out.set(payload, CHANNEL_DATA_HEADER_LENGTH);
  return out;
}

/** What a datagram arriving at a TURN server/client is (Firezone's demux on the first byte). */
export type PacketKind = 'stun' | 'channel-data' | 'unknown' | 'empty';

/**
 * First byte 0-3 -> STUN, 0x40-0x4F -> ChannelData, else unknown (RFC 8656 §12, RFC 7983). With `lastChannel`
 * 0x7FFF (RFC 5766) first bytes up to 0x7F are ChannelData too.
 */
export function classifyPacket(b: Uint8Array, lastChannel: number = LAST_CHANNEL): PacketKind {
  if (b.length === 0) return 'empty';
  const first = b[0] ?? 0;
  if (first <= 3) return 'stun';
  if (first >= 0x40 && first <= lastChannel >> 8) return 'channel-data';
  return 'unknown';
}
