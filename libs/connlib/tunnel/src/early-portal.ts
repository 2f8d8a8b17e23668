// Lets the portal connection start while the data plane (TUN, UDP socket and their worker threads) is still
// opening: the portal channel's events are held until the tunnel loop subscribes, then handed to it in order.
// Without it the `init` that arrives before the loop exists would be lost, so the connection had to wait for
// the data plane (issue 11: set-up time).
import type { PortalChannel, PortalChannelEvent } from './io';

export interface EarlyPortalStats {
  /** Events held before the first subscriber and replayed to it. */
  readonly replayed: number;
  /** Events dropped because more than `limit` were held. */
  readonly dropped: number;
}

/** Held events before the loop subscribes; far more than a portal sends during the data plane's start. */
const DEFAULT_LIMIT = 4096;

export class EarlyPortal<In> implements PortalChannel<In> {
  private held: PortalChannelEvent<In>[] | undefined = [];
  private readonly listeners = new Set<(event: PortalChannelEvent<In>) => void>();
  private replayedCount = 0;
  private droppedCount = 0;
  private readonly unsubscribeInner: () => void;

  constructor(
    /** The channel (a PhoenixChannel), subscribed to at once. */
    private readonly inner: PortalChannel<In>,
    private readonly limit = DEFAULT_LIMIT,
  ) {
    this.unsubscribeInner = inner.onEvent((event) => {
      this.deliver(event);
    });
  }

  get stats(): EarlyPortalStats {
    return { replayed: this.replayedCount, dropped: this.droppedCount };
  }

  /**
   * Subscribes. The first subscriber receives every event held so far, in order, in a microtask (after the
   * caller's synchronous set-up, e.g. `Tunnel.start()`), before any later event.
   */
  onEvent(listener: (event: PortalChannelEvent<In>) => void): () => void {
    this.listeners.add(listener);
    if (this.held !== undefined && this.listeners.size === 1) {
      queueMicrotask(() => {
        this.replay();
      });
    }
    return () => this.listeners.delete(listener);
  }

  send(event: string, payload?: unknown): unknown {
    return this.inner.send(event, payload);
  }

  /** Stops listening to the channel (the channel itself is closed by its owner). */
  detach(): void {
    this.unsubscribeInner();
    this.held = undefined;
  }

  private deliver(event: PortalChannelEvent<In>): void {
    const held = this.held;
    if (held !== undefined) {
      // Before the first subscriber, and while its replay is pending: keep the order.
      if (held.length >= this.limit) {
        held.shift();
        this.droppedCount++;
      }
      held.push(event);
      return;
    }
    for (const l of this.listeners) l(event);
  }

  private replay(): void {
    const held = this.held;
    if (held === undefined) return;
    // A listener may cause new events synchronously: they are appended to `held` and delivered in this loop.
    for (let event = held.shift(); event !== undefined; event = held.shift()) {
      this.replayedCount++;
      for (const l of this.listeners) l(event);
    }
    this.held = undefined;
  }
}

/**
 * For the parts of a start that open concurrently (UDP socket, TUN, DNS control, ...) while the portal connects:
 * when `all` rejects, closes whichever of `closeables` did open (their close errors go to `onCloseError`), so a
 * failed start leaves no socket, TUN or worker thread behind. `all` itself is left for the caller to await.
 */
export function closeOnFailure(all: Promise<unknown>, closeables: readonly Promise<{ close(): Promise<unknown> }>[], onCloseError: (err: unknown) => void): void {
  all.then(
    () => undefined,
    async () => {
      for (const r of await Promise.allSettled(closeables)) {
        if (r.status === 'fulfilled') await r.value.close().catch(onCloseError);
      }
    },
  ).catch(onCloseError);
}
