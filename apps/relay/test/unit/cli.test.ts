import { describe, expect, it } from 'vitest';
import { CliError, parseCli } from '../../src/cli';
import { renderMetrics } from '../../src/metrics';

const base = ['--public-ip4-addr', '198.18.16.1'];

describe('postern-relay CLI', () => {
  it('reads Firezone-style environment variables with defaults', () => {
    const c = parseCli([], { PUBLIC_IP4_ADDR: '198.18.16.1', POSTERN_TOKEN: 'tok', LISTEN_PORT: '3479', LOWEST_PORT: '50000', HIGHEST_PORT: '50100' });
    expect(c).toMatchObject({ publicIp4: '198.18.16.1', token: 'tok', listenPort: 3479, lowestPort: 50000, highestPort: 50100, realm: 'firezone', noPortal: false, apiUrl: 'wss://api.postern.dev' });
    expect(c.healthCheckAddr).toEqual({ host: '0.0.0.0', port: 8080 });
  });
  it('lets flags override the environment and collects repeated --user', () => {
    const c = parseCli([...base, '--no-portal', '--user', 'a:b', '--user=c:d:e', '--metrics-addr', '[::1]:9090', '--realm', 'example.org'], { LISTEN_PORT: '1' });
    expect([...c.users]).toEqual([
      ['a', 'b'],
      ['c', 'd:e'],
    ]);
    expect(c.metricsAddr).toEqual({ host: '::1', port: 9090 });
    expect(c.listenPort).toBe(1);
    expect(c.realm).toBe('example.org');
    expect(c.lastChannel).toBe(0x7fff);
  });
  it('takes the log filter from --log-filter (as the other apps), its alias --log, or POSTERN_LOG', () => {
    const withToken = [...base, '--token', 't'];
    expect(parseCli(withToken, {}).logFilter).toBe('info');
    expect(parseCli(withToken, { POSTERN_LOG: 'debug' }).logFilter).toBe('debug');
    expect(parseCli([...withToken, '--log-filter', 'info,relay=trace'], { POSTERN_LOG: 'debug' }).logFilter).toBe('info,relay=trace');
    expect(parseCli([...withToken, '--log', 'warn'], {}).logFilter).toBe('warn');
  });
  it('reads the relayed socket backend and the number of batched relayed sockets', () => {
    const withToken = [...base, '--token', 't'];
    expect(parseCli(withToken, {})).toMatchObject({ relaySocketBackend: 'auto', relayBatchedSockets: 8 });
    expect(parseCli([...withToken, '--relay-socket-backend', 'dgram', '--relay-batched-sockets', '0'], {})).toMatchObject({ relaySocketBackend: 'dgram', relayBatchedSockets: 0 });
    expect(parseCli(withToken, { POSTERN_RELAY_BATCHED_SOCKETS: '32' }).relayBatchedSockets).toBe(32);
    expect(() => parseCli([...withToken, '--relay-batched-sockets', '-1'], {})).toThrow(CliError);
    expect(() => parseCli([...withToken, '--relay-batched-sockets', 'many'], {})).toThrow(CliError);
  });
  it('rejects bad input with one clear line', () => {
    const err = (argv: string[], env: NodeJS.ProcessEnv = {}): string => {
      try {
        parseCli(argv, env);
        return 'accepted';
      } catch (e) {
        expect(e).toBeInstanceOf(CliError);
        return (e as Error).message;
      }
    };
    expect(err(['--bogus'])).toBe('unknown flag --bogus');
    expect(err([])).toMatch(/--public-ip4-addr/);
    expect(err(['--public-ip4-addr', '1.2.3'])).toMatch(/IPv4/);
    expect(err(base)).toMatch(/--token/);
    expect(err([...base, '--no-portal'])).toMatch(/--user/);
    expect(err([...base, '--no-portal', '--user', 'nopassword'])).toMatch(/name:password/);
    expect(err([...base, '--token', 't', '--lowest-port', '60000', '--highest-port', '50000'])).toMatch(/--lowest-port/);
    expect(err([...base, '--token', 't', '--listen-port', '70000'])).toMatch(/--listen-port/);
    expect(err([...base, '--token', 't', '--log-format', 'xml'])).toMatch(/--log-format/);
    expect(err([...base, '--token'])).toMatch(/needs a value/);
  });
  it('renders Prometheus metrics', () => {
    const text = renderMetrics({
      allocations: 2,
      channels: 3,
      permissions: 4,
      allocationsCreated: 5,
      allocationsFreed: 3,
      authFailures: 1,
      requests: 9,
      errorResponses: 1,
      packetsClientToPeer: 10,
      bytesClientToPeer: 1000,
      packetsPeerToClient: 11,
      bytesPeerToClient: 1100,
      packetsDropped: 0,
    });
    expect(text).toContain('# TYPE postern_relay_allocations gauge\npostern_relay_allocations 2\n');
    expect(text).toContain('postern_relay_client_to_peer_bytes_total 1000\n');
    expect(text).toContain('postern_relay_auth_failures_total 1\n');
  });
});
