#!/usr/bin/env node
// Creates a new Nx project with the workspace's conventions:
//   node tools/scripts/new-project.mjs lib libs/connlib/<name> [--scope connlib]
//   node tools/scripts/new-project.mjs app apps/<name> --binary postern-<name> [--service]
// It writes package.json (Nx name = folder name, tags), tsconfig.json, tsconfig.lib.json (libs),
// vitest.config.ts, src/index.ts (or src/main.ts), a first test and a README, then adds the project
// to the solution tsconfig.json. Run `npm install` afterwards so the workspace link exists.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parseArgs } from 'node:util';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    scope: { type: 'string' },
    binary: { type: 'string' },
    service: { type: 'boolean', default: false },
    description: { type: 'string', default: '' },
  },
});
const [kind, dir] = positionals;
if ((kind !== 'lib' && kind !== 'app') || !dir) {
  console.error('usage: new-project.mjs lib|app <folder> [--scope S] [--binary postern-x] [--service]');
  process.exit(2);
}
const root = join(import.meta.dirname, '..', '..');
const abs = join(root, dir);
if (existsSync(join(abs, 'package.json'))) {
  console.error(`${dir} already has a package.json`);
  process.exit(2);
}
const name = basename(dir);
const up = relative(abs, root) || '.';
const scope = values.scope ?? (kind === 'app' ? name : dir.startsWith('libs/connlib/') ? 'connlib' : 'platform');
const tags = kind === 'app' ? ['type:app', `scope:${scope}`] : ['type:lib', `scope:${scope}`];

const write = (file, text) => {
  const p = join(abs, file);
  mkdirSync(join(p, '..'), { recursive: true });
  if (!existsSync(p)) writeFileSync(p, text);
};

const scripts = {
  typecheck: 'tsc -p tsconfig.json --noEmit',
  lint: 'eslint .',
  test: 'POSTERN_TEST_KIND=test vitest run',
};
const pkg = {
  name: `@postern/${name}`,
  version: '0.1.0',
  private: true,
  type: 'module',
  description: values.description,
  license: 'Apache-2.0',
  nx: { name, tags },
};
if (kind === 'lib') {
  pkg.exports = { '.': './src/index.ts' };
  pkg.scripts = { build: 'tsc -p tsconfig.lib.json', ...scripts };
} else {
  pkg.postern = { binary: values.binary ?? `postern-${name}`, service: values.service };
  pkg.scripts = {
    build: `node ${up}/tools/scripts/build-app.mjs`,
    package: `node ${up}/tools/scripts/package-app.mjs`,
    ...scripts,
  };
}
write('package.json', JSON.stringify(pkg, null, 2) + '\n');
write(
  'tsconfig.json',
  JSON.stringify(
    {
      extends: `${up}/tsconfig.base.json`,
      compilerOptions: { noEmit: true },
      include: ['src/**/*', 'test/**/*', '*.config.ts'],
    },
    null,
    2,
  ) + '\n',
);
if (kind === 'lib') {
  write(
    'tsconfig.lib.json',
    JSON.stringify(
      {
        extends: './tsconfig.json',
        compilerOptions: { noEmit: false, outDir: `${up}/dist/${dir}`, declaration: true, sourceMap: true },
        include: ['src/**/*'],
      },
      null,
      2,
    ) + '\n',
  );
}
write(
  'vitest.config.ts',
  `import { posternVitest } from '${up}/tools/vitest-preset';\n\nexport default posternVitest(import.meta.dirname);\n`,
);
write('README.md', `# @postern/${name}\n\n${values.description}\n`);

const solution = join(root, 'tsconfig.json');
const sol = JSON.parse(readFileSync(solution, 'utf8'));
if (!sol.references.some((r) => r.path === `./${dir}`)) {
  sol.references.push({ path: `./${dir}` });
  sol.references.sort((a, b) => a.path.localeCompare(b.path));
  writeFileSync(solution, JSON.stringify(sol, null, 2) + '\n');
}
console.log(`created ${kind} ${name} in ${dir} (tags ${tags.join(', ')})`);
