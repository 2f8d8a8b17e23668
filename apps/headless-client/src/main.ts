// postern-client: entrypoint only (CLI, wiring, IO shell).
import { buildInfo, versionLine } from '@postern/bin-shared';

const info = buildInfo('postern-client');
const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-V')) {
  console.log(versionLine(info));
  process.exit(0);
}
console.error(`${info.binary}: not implemented yet; try --version`);
process.exit(2);
