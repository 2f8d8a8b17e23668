// Wiring: config file -> compiled config -> store -> PortalCore -> PortalServer; reload on SIGHUP and on
// file change (a bad file keeps the running configuration and logs which field is wrong).
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { Logger } from 'pino';
import { compileConfig } from './config/compile';
import { ConfigError, loadConfigFile } from './config/load';
import type { PortalConfig } from './config/schema';
import { PortalCore } from './core/portal';
import { SqliteStore } from './core/sqlite-store';
import { MemoryStore, type Store } from './core/store';
import type { ReloadCounters } from './http/metrics';
import { PortalServer } from './http/server';

export interface PortalAppOptions {
  readonly configPath: string;
  readonly logger: Logger;
  /** `host:port`; overrides the config's server.listen. */
  readonly listen?: string | undefined;
  /** SQLite path, or ':memory:'; overrides the config's state.sqlite. */
  readonly statePath?: string | undefined;
  readonly watch?: boolean;
}

export function splitHostPort(value: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(value);
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('CONFIG_INVALID', [`listen address must be host:port (got ${value})`]);
  return { host: m[1], port };
}

export class PortalApp {
  readonly reloads: ReloadCounters = { ok: 0, error: 0 };
  private core: PortalCore | undefined;
  private server: PortalServer | undefined;
  private store: Store | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private lastText = '';

  constructor(private readonly opts: PortalAppOptions) {}

  /** Loads the config (throws ConfigError), opens the state file, listens. Returns the bound address. */
  async start(): Promise<{ host: string; port: number; url: string }> {
    const cfg = loadConfigFile(this.opts.configPath);
    this.lastText = readFileSync(this.opts.configPath, 'utf8');
    const listen = splitHostPort(this.opts.listen ?? cfg.server.listen);
    this.store = this.openStore(cfg);
    const core = new PortalCore({ config: compileConfig(cfg), store: this.store, publicUrl: cfg.server.public_url ?? `http://${listen.host}:${listen.port}` });
    this.core = core;
    this.server = new PortalServer({ core, logger: this.opts.logger, reloads: this.reloads });
    const addr = await this.server.listen(listen.host, listen.port);
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    if (this.opts.watch ?? true) this.watchFile();
    this.opts.logger.info({ listen: `${host}:${addr.port}`, config: this.opts.configPath }, 'portal listening');
    return { host: addr.address, port: addr.port, url: `http://${host}:${addr.port}` };
  }

  private openStore(cfg: PortalConfig): Store {
    const path = this.opts.statePath ?? cfg.state.sqlite;
    if (path === ':memory:') return new MemoryStore();
    return new SqliteStore(isAbsolute(path) ? path : join(dirname(this.opts.configPath), path));
  }

  /** Re-reads the config file; on error keeps the running config. Returns whether it applied. */
  reload(reason: string): boolean {
    const core = this.core;
    if (!core) return false;
    try {
      const cfg = loadConfigFile(this.opts.configPath);
      core.reconfigure(compileConfig(cfg), Date.now());
      this.server?.flush();
      this.reloads.ok++;
      this.opts.logger.info({ reason }, 'configuration reloaded');
      return true;
    } catch (err) {
      this.reloads.error++;
      const problems = err instanceof ConfigError ? err.problems : [err instanceof Error ? err.message : String(err)];
      this.opts.logger.error({ reason, problems }, `configuration not reloaded, keeping the running one: ${problems.join('; ')}`);
      return false;
    }
  }

  private watchFile(): void {
    // Watch the folder: editors replace files (rename), which ends a watch on the file itself.
    const file = basename(this.opts.configPath);
    this.watcher = watch(dirname(this.opts.configPath), (_event, name) => {
      if (name !== file) return;
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => {
        this.reloadIfChanged();
      }, 150);
    });
    this.watcher.on('error', (err) => { this.opts.logger.warn({ err: err.message }, 'config file watch failed; SIGHUP still reloads'); });
  }

  private reloadIfChanged(): void {
    let text: string;
    try {
      text = readFileSync(this.opts.configPath, 'utf8');
    } catch (err) {
      text = `unreadable: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (text === this.lastText) return; // touched but unchanged (or a second event for one save)
    this.lastText = text;
    this.reload('file changed');
  }

  get portal(): PortalCore | undefined {
    return this.core;
  }

  async stop(): Promise<void> {
    clearTimeout(this.debounce);
    this.watcher?.close();
    await this.server?.close();
    this.store?.close();
  }
}
