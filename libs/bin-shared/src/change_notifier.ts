// The ChangeNotifier mechanics shared by the network and DNS notifiers: the first `notified()` resolves at
// once (the "start" event), later ones when `trigger()` was called since; `trigger()` calls within the
// debounce window collapse into one.
import type { ChangeNotifier } from './network_changes_api';

export class DebouncedNotifier implements ChangeNotifier {
  private pending = true; // one event at start
  private closed = false;
  private waiter: ((v: boolean) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly debounceMs: number,
    private readonly onClose: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /** A change happened: fires after `debounceMs` without further changes. */
  trigger(): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, this.debounceMs);
  }

  private fire(): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(true);
    } else {
      this.pending = true;
    }
  }

  notified(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.pending) {
      this.pending = false;
      return Promise.resolve(true);
    }
    if (this.waiter) return Promise.reject(new Error('notified() is already being awaited'));
    return new Promise((resolve) => (this.waiter = resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const w = this.waiter;
    this.waiter = undefined;
    w?.(false);
    await this.onClose();
  }
}
