import type { ConnectionStats, PathKind } from '@postern/snownet';

/** The ICE pair a connection uses, for events and logs: its kind and `ours -> theirs`. */
export function pathOf(stats: ConnectionStats | undefined): { path: PathKind | undefined; via: string | undefined } {
  if (stats?.localCandidate === undefined || stats.remoteCandidate === undefined) return { path: stats?.path, via: undefined };
  return { path: stats.path, via: `${stats.localCandidate} -> ${stats.remoteCandidate}` };
}
