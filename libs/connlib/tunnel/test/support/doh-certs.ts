// A throw-away CA and a server certificate it signed (openssl), for DoH tests: the client trusts the CA
// through POSTERN_DOH_CA_FILE / DnsIo's `dohCa`, never by turning verification off.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCerts {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** Writes ca.pem, server.pem and server.key to `dir`; the server certificate names `dnsNames` and `ips`. */
export function makeTestCerts(dir: string, dnsNames: readonly string[], ips: readonly string[]): TestCerts {
  const f = (n: string): string => join(dir, n);
  const ssl = (args: readonly string[]): void => {
    execFileSync('openssl', args, { stdio: 'pipe' });
  };
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=postern test DoH CA']);
  ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${dnsNames[0] ?? ips[0] ?? 'doh'}`]);
  const san = [...dnsNames.map((n) => `DNS:${n}`), ...ips.map((i) => `IP:${i}`)].join(',');
  writeFileSync(f('ext.cnf'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  ssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { caFile: f('ca.pem'), certFile: f('server.pem'), keyFile: f('server.key') };
}
