// The gateway's in-tunnel DNS server (tunnel IP, port 53535): clients send it the SRV/TXT queries of DNS
// resources (StubAction 'forward-to-site'). It only resolves names covered by a resource the client is
// authorised for, and only those record types; everything else is refused. Sans-IO decision only: the
// shell forwards the query to the system resolver and relays the answer.
import { buildResponse, decodeMessage, formErrFor, isStandardQuery, questionType, RCODE } from './message';
import { isSafeName, normalizeName } from './names';
import { DomainPattern } from './pattern';

/** The gateway's in-tunnel DNS port. */
export const SITE_DNS_PORT = 53535;

/** Record types a client may resolve at a site. */
export const SITE_QUERY_TYPES: ReadonlySet<string> = new Set(['SRV', 'TXT']);

export type SiteQueryAction =
  | { readonly kind: 'respond'; readonly response: Uint8Array }
  /** Resolve `query` (unchanged bytes) with the site's resolver and relay its answer. */
  | { readonly kind: 'resolve'; readonly name: string; readonly qtype: string; readonly query: Uint8Array }
  | { readonly kind: 'drop' };

/**
 * Decides on one query from a client to the site DNS server. `authorized` are the address patterns of the
 * DNS resources this client may use on this gateway (strings are parsed; invalid ones are ignored).
 */
export function handleSiteQuery(query: Uint8Array, authorized: Iterable<string | DomainPattern>): SiteQueryAction {
  const p = decodeMessage(query);
  if (!p) {
    const formErr = formErrFor(query);
    return formErr ? { kind: 'respond', response: formErr } : { kind: 'drop' };
  }
  const respond = (rcode: number): SiteQueryAction => {
    const response = buildResponse(p, rcode);
    return response ? { kind: 'respond', response } : { kind: 'drop' };
  };
  if (p.flag_qr) return { kind: 'drop' };
  if (!isStandardQuery(p)) return respond(RCODE.NOTIMP);
  const q = p.questions?.[0];
  if (!q || p.questions?.length !== 1) return respond(RCODE.FORMERR);
  const name = normalizeName(q.name);
  const qtype = questionType(q);
  if (!SITE_QUERY_TYPES.has(qtype) || (q.class ?? 'IN') !== 'IN' || !isSafeName(name)) return respond(RCODE.REFUSED);
  for (const a of authorized) {
    const pattern = typeof a === 'string' ? DomainPattern.tryParse(a) : a;
    if (pattern?.matches(name)) return { kind: 'resolve', name, qtype, query };
  }
  return respond(RCODE.REFUSED);
}
