#!/usr/bin/env node
// Turns a release build (dist/apps/<app>) into what a release engineer ships (run by `nx run <app>:package`
// with the app folder as cwd): dist/packages/<binary>-<version>-linux-x64.tar.gz and
// dist/packages/<binary>_<version>_amd64.deb (built with dpkg-deb). Layout inside the .deb:
//   /usr/lib/postern/<app>/   the bundle (main.js, workers, node_modules of native packages)
//   /usr/bin/<binary>         a symlink to the entry (one per binary)
//   /lib/systemd/system/      the app's unit files, when the app is a service
//   /usr/share/doc/<binary>/README
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

const appDir = process.cwd();
const root = join(import.meta.dirname, '..', '..');
const app = basename(appDir);
const buildDir = join(root, 'dist', relative(root, appDir));
if (!existsSync(join(buildDir, 'package.json'))) {
  console.error(`package: no build in ${relative(root, buildDir)}; run npx nx build ${app} first`);
  process.exit(2);
}
const dist = JSON.parse(readFileSync(join(buildDir, 'package.json'), 'utf8'));
const binaries = dist.bin;
const mainBinary = Object.keys(binaries)[0];
const version = dist.version;
const outDir = join(root, 'dist', 'packages');
mkdirSync(outDir, { recursive: true });

const readme = `${mainBinary} ${version} (${dist.gitSha})

${dist.description ?? ''}

Postern is a zero-trust network access system (WireGuard tunnels brokered by a portal).
Requires Node.js >= 20.19 on PATH as "node". Binaries: ${Object.keys(binaries).join(', ')}.
Run "${mainBinary} --help" for flags and environment variables.
`;
writeFileSync(join(buildDir, 'README'), readme);

// tar.gz: a folder <binary>-<version>/ with the bundle.
const tarName = `${mainBinary}-${version}-linux-x64`;
const stage = join(outDir, '.stage', tarName);
rmSync(join(outDir, '.stage'), { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
cpSync(buildDir, stage, { recursive: true });
execFileSync('tar', ['-czf', join(outDir, `${tarName}.tar.gz`), '-C', join(outDir, '.stage'), tarName]);

// .deb
const debRoot = join(outDir, '.stage', 'deb');
const libDir = join(debRoot, 'usr', 'lib', 'postern', app);
mkdirSync(libDir, { recursive: true });
cpSync(buildDir, libDir, { recursive: true });
mkdirSync(join(debRoot, 'usr', 'bin'), { recursive: true });
for (const [bin, entry] of Object.entries(binaries)) {
  symlinkSync(join('/usr/lib/postern', app, entry), join(debRoot, 'usr', 'bin', bin));
}
const units = readdirSync(buildDir).filter((f) => f.endsWith('.service'));
if (units.length) {
  mkdirSync(join(debRoot, 'lib', 'systemd', 'system'), { recursive: true });
  for (const u of units) cpSync(join(buildDir, u), join(debRoot, 'lib', 'systemd', 'system', u));
}
mkdirSync(join(debRoot, 'usr', 'share', 'doc', mainBinary), { recursive: true });
writeFileSync(join(debRoot, 'usr', 'share', 'doc', mainBinary, 'README'), readme);
mkdirSync(join(debRoot, 'DEBIAN'), { recursive: true });
const sizeKb = Number(execFileSync('du', ['-sk', debRoot]).toString().split('\t')[0]);
writeFileSync(
  join(debRoot, 'DEBIAN', 'control'),
  [
    `Package: ${mainBinary}`,
    `Version: ${version}`,
    'Section: net',
    'Priority: optional',
    'Architecture: amd64',
    `Installed-Size: ${sizeKb}`,
    'Maintainer: Postern developers <dev@postern.invalid>',
    `Description: Postern ${app} (${dist.gitSha})`,
    ` ${dist.description ?? 'Postern component'}`,
    ' Requires Node.js >= 20.19 on PATH.',
    '',
  ].join('\n'),
);
const debFile = join(outDir, `${mainBinary}_${version}_amd64.deb`);
execFileSync('dpkg-deb', ['--root-owner-group', '--build', debRoot, debFile], { stdio: ['ignore', 'ignore', 'inherit'] });
rmSync(join(outDir, '.stage'), { recursive: true, force: true });
console.log(`packaged ${relative(root, join(outDir, `${tarName}.tar.gz`))} and ${relative(root, debFile)}`);
