import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  RESOLV_CONF_MARKER,
  createDnsController,
  parseDnsControlMethod,
  parseResolvConf,
  parseResolvectlDns,
  renderResolvConf,
  revertStaleResolvConf,
  systemResolvers,
} from '../../src/index';

const dir = mkdtempSync(join(tmpdir(), 'pbs-dnsu-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('dns_control', () => {
  it('parses resolv.conf and --dns-control', () => {
    expect(parseResolvConf('# x\nnameserver 1.1.1.1\nnameserver fe80::1%eth0\nnameserver bogus\nsearch a.example b.example\noptions ndots:2\n')).toEqual({
      nameservers: ['1.1.1.1', 'fe80::1%eth0'],
      search: ['a.example', 'b.example'],
    });
    expect(parseDnsControlMethod('etc-resolv-conf')).toBe('etc-resolv-conf');
    expect(() => parseDnsControlMethod('nm')).toThrow(expect.objectContaining({ code: 'DNS_CONTROL_INVALID_METHOD' }));
  });

  it('renders a marker, our servers, the search domain first and the original options', () => {
    const text = renderResolvConf(['100.100.111.1'], 'corp.example', 'nameserver 9.9.9.9\nsearch lan\noptions edns0 trust-ad\n');
    expect(text.startsWith(`${RESOLV_CONF_MARKER}\n`)).toBe(true);
    expect(text).toContain('nameserver 100.100.111.1\nsearch corp.example lan\noptions edns0 trust-ad\n');
    expect(text).not.toContain('9.9.9.9');
  });

  it('parses `resolvectl dns`, skipping our TUN', () => {
    const out = 'Global: 9.9.9.9#dns.quad9.net\nLink 2 (eth0): 198.18.12.1 fe80::1%2\nLink 7 (tun-postern): 100.100.111.1\n';
    expect(parseResolvectlDns(out, 'tun-postern')).toEqual(['9.9.9.9', '198.18.12.1', 'fe80::1']);
  });

  it('systemd-resolved: sets per-link DNS, routing domain, LLMNR off, flushes; reverts on deactivate', async () => {
    const calls: string[] = [];
    const ctl = await createDnsController({
      method: 'systemd-resolved',
      tunName: 'tun-postern',
      runCommand: (cmd, args) => {
        calls.push([cmd, ...args].join(' '));
        return Promise.resolve('');
      },
    });
    await ctl.setDns(['100.100.111.1', 'fd00:2021:1111:8000:100:100:111:0'], 'corp.example');
    await ctl.deactivate();
    expect(calls).toEqual([
      'resolvectl dns tun-postern 100.100.111.1 fd00:2021:1111:8000:100:100:111:0',
      'resolvectl domain tun-postern ~. corp.example',
      'resolvectl llmnr tun-postern false',
      'resolvectl flush-caches',
      'resolvectl revert tun-postern',
      'resolvectl flush-caches',
    ]);
  });

  it('systemd-resolved: a failing resolvectl is DNS_CONTROL_FAILED with the cause', async () => {
    const ctl = await createDnsController({ method: 'systemd-resolved', tunName: 't', runCommand: () => Promise.reject(new Error('no such command')) });
    await expect(ctl.setDns(['1.2.3.4'])).rejects.toMatchObject({ code: 'DNS_CONTROL_FAILED', cause: { message: 'no such command' } });
  });

  it('etc-resolv-conf: backs up once, rewrites, restores; upstreams come from the backup meanwhile', async () => {
    const path = join(dir, 'resolv.conf');
    const original = 'nameserver 198.18.12.53\nsearch lan\n';
    writeFileSync(path, original);
    const ctl = await createDnsController({ method: 'etc-resolv-conf', tunName: 't', resolvConfPath: path });
    await ctl.setDns(['100.100.111.1']);
    await ctl.setDns(['100.100.111.2']);
    expect(readFileSync(`${path}.before-postern`, 'utf8')).toBe(original);
    expect(await systemResolvers({ method: 'etc-resolv-conf', resolvConfPath: path })).toEqual(['198.18.12.53']);
    await ctl.deactivate();
    expect(readFileSync(path, 'utf8')).toBe(original);
    expect(existsSync(`${path}.before-postern`)).toBe(false);
    expect(await revertStaleResolvConf(path)).toBe(false);
  });

  it('etc-resolv-conf: a marker without a backup is reported, not silently kept', async () => {
    const path = join(dir, 'orphan.conf');
    writeFileSync(path, `${RESOLV_CONF_MARKER}\nnameserver 100.100.111.1\n`);
    await expect(revertStaleResolvConf(path)).rejects.toMatchObject({ code: 'DNS_CONTROL_FAILED' });
  });

  it('disabled does nothing; resolvers exclude our sentinels', async () => {
    const path = join(dir, 'plain.conf');
    writeFileSync(path, 'nameserver 100.100.111.1\nnameserver 198.18.12.53\n');
    const ctl = await createDnsController({ method: 'disabled', tunName: 't', resolvConfPath: path });
    await ctl.setDns(['1.1.1.1']);
    expect(readFileSync(path, 'utf8')).toContain('198.18.12.53');
    expect(await systemResolvers({ method: 'disabled', resolvConfPath: path, exclude: ['100.100.111.1'] })).toEqual(['198.18.12.53']);
  });
});
