// @postern/dns: sans-IO DNS core for ClientState (stub resolver, sentinels, proxy IPs) and GatewayState
// (proxy<->real NAT table, resolution queue). All inputs are plain data and Uint8Array DNS payloads; time is
// injected as `now` (ms, monotonic). Nothing here throws on untrusted bytes.
export { DnsError, type DnsErrorCode } from './errors';
export type { DnsResource, DnsResourceRecord, IpStack, Upstream } from './types';
export { stackHasV4, stackHasV6 } from './types';
export {
  DNS_SENTINELS_V4,
  DNS_SENTINELS_V6,
  DNS_TTL_SECS,
  DOH_CANARY_DOMAIN,
  IPV4_RESOURCES,
  IPV6_RESOURCES,
  PROXY_IPS_PER_FAMILY,
} from './addresses';
export { formatIp, ipFamily, normalizeIp, parseIp, type IpFamily, type ParsedIp } from './ip';
export { normalizeName, reverseDnsAddr, reverseDnsName } from './names';
export { comparePatterns, DomainPattern, matchResources, type PatternResource } from './pattern';
export {
  describeUpstream,
  effectiveUpstreams,
  isSentinelIp,
  mapSentinels,
  SentinelTable,
  type SentinelEntry,
  type UpstreamConfig,
} from './sentinels';
export { isProxyIp, ProxyIpAllocator } from './proxy-ips';
export { ResponseCache, type ResponseCacheOptions } from './cache';
export { CLASSIC_UDP_LIMIT, isTruncated, MAX_UDP_DNS_PAYLOAD, RCODE, truncateResponse, udpPayloadLimit } from './message';
export {
  StubResolver,
  type ProxyIpOwner,
  type StubAction,
  type StubEvent,
  type StubResolverOptions,
  FORWARD_TIMEOUT_MS,
} from './stub-resolver';
export {
  mapProxyIps,
  NAT_EXPIRED_MEMORY_MS,
  NAT_FIN_LINGER_MS,
  NAT_TTL_MS,
  NAT_UNCONFIRMED_TTL_MS,
  NatTable,
  type InsideTuple,
  type NatProtocol,
  type OutsideTuple,
  type TcpSignals,
  type TranslateInboundResult,
  type TranslateOutboundResult,
} from './nat';
export {
  ResolveQueue,
  type ResolveEvent,
  type ResolveOutcome,
  type ResolveQueueOptions,
  type ResolveRequest,
} from './resolve-queue';
export { DnsTcpDecoder, encodeTcpFrame, MAX_DNS_TCP_MESSAGE } from './tcp-framing';
export {
  DnsTcpUpstreams,
  TCP_UPSTREAM_CONNECT_TIMEOUT_MS,
  TCP_UPSTREAM_IDLE_MS,
  TCP_UPSTREAM_MAX_CONNECTIONS,
  TCP_UPSTREAM_MAX_OUTSTANDING,
  TCP_UPSTREAM_QUERY_TIMEOUT_MS,
  type TcpUpstreamAction,
  type TcpUpstreamEvent,
} from './tcp-upstream';
export {
  checkDohResponse,
  decodeDohResponse,
  DOH_CONTENT_TYPE,
  DOH_MAX_MESSAGE_BYTES,
  DohBody,
  DohError,
  dohHost,
  encodeDohGetRequest,
  encodeDohPostRequest,
  parseDohUrl,
  withMessageId,
  type DohErrorCode,
  type DohGetRequest,
  type DohHttpResponse,
  type DohPostRequest,
  type DohResponseResult,
  type DohServer,
} from './doh';
export {
  bootstrapAddresses,
  bootstrapQuery,
  DOH_ADDRESS_MAX_TTL_MS,
  DOH_ADDRESS_MIN_TTL_MS,
  DOH_BOOTSTRAP_RETRY_MS,
  DOH_BOOTSTRAP_TIMEOUT_MS,
  DOH_MAX_OUTSTANDING,
  DOH_QUERY_TIMEOUT_MS,
  DohUpstreams,
  type DohAction,
  type DohEvent,
} from './doh-client';
export { handleSiteQuery, SITE_DNS_PORT, SITE_QUERY_TYPES, type SiteQueryAction } from './site-dns';
