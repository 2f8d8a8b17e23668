import type { ConnectionStats, PathKind } from '@postern/snownet';

/** How a connection reaches its peer, for events and logs. */
export interface PathInfo {
  /** The ICE pair's kind (`host`, `srflx` or `relay`; undefined without ICE). */
  readonly path: PathKind | undefined;
  /** The pair, `ours -> theirs`. */
  readonly via: string | undefined;
  /** The relay this connection uses on our side (one per connection), and how often it moved to another. */
  readonly relayId: string | undefined;
  readonly relayMigrations: number;
}

/** The ICE pair a connection uses and its relay, for events and logs. */
export function pathOf(stats: ConnectionStats | undefined): PathInfo {
  const relay = { relayId: stats?.relayId, relayMigrations: stats?.relayMigrations ?? 0 };
  if (stats?.localCandidate === undefined || stats.remoteCandidate === undefined) return { path: stats?.path, via: undefined, ...relay };
  return { path: stats.path, via: `${stats.localCandidate} -> ${stats.remoteCandidate}`, ...relay };
}
