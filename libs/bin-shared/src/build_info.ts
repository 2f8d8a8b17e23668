// Version and git SHA baked into a release build by tools/scripts/build-app.mjs (esbuild `define`).
// Outside a release build (tests, `vitest`, a dev run) the values fall back to "0.0.0-dev" / "unknown".

export interface BuildInfo {
  readonly version: string;
  readonly gitSha: string;
  readonly binary: string;
}

declare const POSTERN_BUILD_INFO: BuildInfo | undefined;

export function buildInfo(fallbackBinary = 'postern'): BuildInfo {
  if (typeof POSTERN_BUILD_INFO !== 'undefined') return POSTERN_BUILD_INFO;
  return { version: '0.0.0-dev', gitSha: 'unknown', binary: fallbackBinary };
}

/** `<binary> <version> (<git sha>)`, what every app prints for `--version`. */
export function versionLine(info: BuildInfo = buildInfo()): string {
  return `${info.binary} ${info.version} (${info.gitSha})`;
}
