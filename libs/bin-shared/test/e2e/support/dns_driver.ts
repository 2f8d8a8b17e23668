// Runs dns_control inside a private mount namespace (see dns_control.e2e.ts). Prints one JSON line.
import { createDnsController, systemResolvers } from '../../../src/dns_control';

const [cmd = '', ...rest] = process.argv.slice(2);
const out = (v: unknown): void => {
  process.stdout.write(`${JSON.stringify(v)}\n`);
};

const ctl = await createDnsController({ method: 'etc-resolv-conf', tunName: 'tun-postern' });
switch (cmd) {
  case 'start':
    out({ ok: true });
    break;
  case 'set':
    await ctl.setDns(rest, 'corp.example');
    out({ resolvers: await systemResolvers({ method: 'etc-resolv-conf', exclude: rest }) });
    break;
  case 'crash':
    await ctl.setDns(rest);
    process.exit(3); // no deactivate(): as if killed
    break;
  case 'set-deactivate':
    await ctl.setDns(rest);
    await ctl.setDns(rest); // twice: the backup must stay the original
    await ctl.deactivate();
    out({ ok: true });
    break;
  default:
    out({ error: `unknown command ${cmd}` });
}
