// Firezone's in-tunnel control protocol ("fz_p2p_control"): IPv6 packets with src == dst == :: and next header
// 0xFF, whose payload is an 8-byte header (byte 0 = event type, 1..7 zero) followed by a JSON body.
// Used between client and gateway to set up DNS resource NAT (assigned_ips / domain_status) and to say goodbye.
import { z } from 'zod';
import { parseIp } from './address';
import { buildIpPacket } from './build';
import { IpPacketError } from './errors';
import { IpProtocol } from './constants';
import { IpPacket } from './packet';

export const P2pEventType = { AssignedIps: 0, DomainStatus: 1, Goodbye: 2 } as const;
export type P2pEventType = (typeof P2pEventType)[keyof typeof P2pEventType];

export const P2P_CONTROL_HEADER_LEN = 8;
const UNSPECIFIED = new Uint8Array(16);

/** NAT state of a DNS resource domain on the gateway; unknown values read as Inactive. */
export type NatStatus = 'Active' | 'Inactive';

export type P2pControlEvent =
  | { readonly type: 'assigned_ips'; readonly resource: string; readonly domain: string; readonly proxyIps: readonly string[] }
  | { readonly type: 'domain_status'; readonly resource: string; readonly domain: string; readonly status: NatStatus }
  | { readonly type: 'goodbye' };

// Any 128-bit id in hyphenated form (ResourceId::from_u128 yields ids without version bits; z.uuid() refuses them).
const resourceId = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/);
const ipString = z.string().refine((s) => parseIp(s) !== undefined, 'not an IP address');
const AssignedIpsJson = z.object({ resource: resourceId, domain: z.string(), proxy_ips: z.array(ipString) });
const DomainStatusJson = z.object({
  resource: resourceId,
  domain: z.string(),
  status: z.string().transform((s): NatStatus => (s === 'Active' ? 'Active' : 'Inactive')),
});

/** Whether `packet` is a p2p control packet (IPv6, next header 0xFF, source and destination ::). */
export function isP2pControl(packet: IpPacket): boolean {
  if (packet.version !== 6 || packet.protocol !== IpProtocol.FZ_P2P_CONTROL) return false;
  for (let i = 8; i < 40; i++) if (packet.bytes[i] !== 0) return false;
  return true;
}

/** The event type byte and a view of the JSON body, without decoding it. */
export function p2pControlFrame(packet: IpPacket): { readonly eventType: number; readonly body: Uint8Array } | IpPacketError {
  if (!isP2pControl(packet)) return new IpPacketError('NOT_P2P_CONTROL', 'not a p2p control packet');
  const payload = packet.ipPayload();
  if (payload.length < P2P_CONTROL_HEADER_LEN) return new IpPacketError('TOO_SHORT', `p2p control payload of ${payload.length} bytes`);
  return { eventType: payload[0] ?? 0, body: payload.subarray(P2P_CONTROL_HEADER_LEN) };
}

/** The JSON body (compact, fields in Firezone's order) of an event; empty for goodbye. */
export function encodeP2pControlBody(event: P2pControlEvent): string {
  switch (event.type) {
    case 'assigned_ips':
      return JSON.stringify({ resource: event.resource, domain: event.domain, proxy_ips: event.proxyIps });
    case 'domain_status':
      return JSON.stringify({ resource: event.resource, domain: event.domain, status: event.status });
    case 'goodbye':
      return '';
  }
}

const EVENT_TYPE: Record<P2pControlEvent['type'], P2pEventType> = {
  assigned_ips: P2pEventType.AssignedIps,
  domain_status: P2pEventType.DomainStatus,
  goodbye: P2pEventType.Goodbye,
};

/** Builds the whole IPv6 control packet for `event`. */
export function encodeP2pControl(event: P2pControlEvent): Uint8Array {
  const body = new TextEncoder().encode(encodeP2pControlBody(event));
  const payload = new Uint8Array(P2P_CONTROL_HEADER_LEN + body.length);
  payload[0] = EVENT_TYPE[event.type];
  payload.set(body, P2P_CONTROL_HEADER_LEN);
  return buildIpPacket({ source: UNSPECIFIED, destination: UNSPECIFIED, hopLimit: 0, protocol: IpProtocol.FZ_P2P_CONTROL, ipPayload: payload });
}

/** Decodes a p2p control packet: the event, or a typed error (never throws). */
export function decodeP2pControl(packet: IpPacket): P2pControlEvent | IpPacketError {
  const frame = p2pControlFrame(packet);
  if (frame instanceof IpPacketError) return frame;
  switch (frame.eventType) {
    case P2pEventType.Goodbye:
      return { type: 'goodbye' };
    case P2pEventType.AssignedIps: {
      const r = AssignedIpsJson.safeParse(parseJson(frame.body));
      if (!r.success) return new IpPacketError('BAD_P2P_PAYLOAD', `assigned_ips: ${r.error.message}`, { cause: r.error });
      return { type: 'assigned_ips', resource: r.data.resource, domain: r.data.domain, proxyIps: r.data.proxy_ips };
    }
    case P2pEventType.DomainStatus: {
      const r = DomainStatusJson.safeParse(parseJson(frame.body));
      if (!r.success) return new IpPacketError('BAD_P2P_PAYLOAD', `domain_status: ${r.error.message}`, { cause: r.error });
      return { type: 'domain_status', resource: r.data.resource, domain: r.data.domain, status: r.data.status };
    }
    default:
      return new IpPacketError('UNKNOWN_P2P_EVENT', `p2p control event type ${frame.eventType}`);
  }
}

/** Parses raw bytes as a p2p control packet (IP parse + decode). */
export function decodeP2pControlBytes(bytes: Uint8Array): P2pControlEvent | IpPacketError {
  const p = IpPacket.parse(bytes);
  return p instanceof IpPacketError ? p : decodeP2pControl(p);
}

const decoder = new TextDecoder('utf-8', { fatal: false });
function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(body));
  } catch (e: unknown) {
    return { __invalidJson: String(e) };
  }
}
