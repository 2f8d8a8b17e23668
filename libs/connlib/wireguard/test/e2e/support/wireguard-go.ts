// Test harness: a wireguard-go instance in a network namespace, configured with `wg`. Its output (LOG_LEVEL=debug)
// and that of every `wg` call but `show dump` (which prints the keys: parsed, never logged) is kept under
// <test logs>/wireguard/ for check-secrets; the private key and PSK reach `wg` through 0600 files, never argv.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepLogs, writeLog, type Netns } from '@postern/testing';
import { keyToBase64 } from '../../../src/index';

export interface WgGoConfig {
  readonly ifname: string;
  readonly privateKey: Uint8Array;
  readonly listenPort: number;
  readonly address: string;
  readonly peer: {
    readonly publicKey: Uint8Array;
    readonly presharedKey?: Uint8Array;
    readonly endpoint: string;
    readonly allowedIps: string;
    readonly persistentKeepalive?: number;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const LOG_SUITE = 'wireguard';

export class WireguardGo {
  private constructor(
    private readonly ns: Netns,
    private readonly child: ChildProcess,
    readonly config: WgGoConfig,
  ) {}

  static async start(ns: Netns, config: WgGoConfig): Promise<WireguardGo> {
    rmSync(`/var/run/wireguard/${config.ifname}.sock`, { force: true });
    const child = ns.spawn('env', ['WG_PROCESS_FOREGROUND=1', 'LOG_LEVEL=debug', 'wireguard-go', config.ifname], { stdio: ['ignore', 'pipe', 'pipe'] });
    keepLogs(child, LOG_SUITE, `${ns.name}-wireguard-go`);
    const wg = new WireguardGo(ns, child, config);
    for (let i = 0; ; i++) {
      try {
        await ns.exec('ip', ['link', 'show', config.ifname]);
        break;
      } catch (err) {
        if (i > 50) throw new Error('wireguard-go did not create its interface', { cause: err });
        await sleep(100);
      }
    }
    for (let i = 0; ; i++) {
      try {
        await wg.configure();
        break;
      } catch (err) {
        if (i > 20) throw err;
        await sleep(100);
      }
    }
    await ns.exec('ip', ['addr', 'add', config.address, 'dev', config.ifname]);
    await ns.exec('ip', ['link', 'set', config.ifname, 'up']);
    return wg;
  }

  private async configure(): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'pwg-'));
    try {
      const c = this.config;
      const keyFile = join(dir, 'key');
      writeFileSync(keyFile, keyToBase64(c.privateKey), { mode: 0o600 });
      const args = ['set', c.ifname, 'private-key', keyFile, 'listen-port', String(c.listenPort), 'peer', keyToBase64(c.peer.publicKey)];
      if (c.peer.presharedKey) {
        const pskFile = join(dir, 'psk');
        writeFileSync(pskFile, keyToBase64(c.peer.presharedKey), { mode: 0o600 });
        args.push('preshared-key', pskFile);
      }
      args.push('endpoint', c.peer.endpoint, 'allowed-ips', c.peer.allowedIps);
      if (c.peer.persistentKeepalive !== undefined) args.push('persistent-keepalive', String(c.peer.persistentKeepalive));
      await this.wg(args);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Runs `wg` in the namespace and keeps its output. */
  private async wg(args: readonly string[]): Promise<string> {
    const out = await this.ns.exec('wg', args);
    writeLog(LOG_SUITE, `${this.ns.name}-wg`, `$ wg ${args.join(' ')}\n${out}`);
    return out;
  }

  async setPersistentKeepalive(seconds: number): Promise<void> {
    await this.wg(['set', this.config.ifname, 'peer', keyToBase64(this.config.peer.publicKey), 'persistent-keepalive', String(seconds)]);
  }

  /** `wg show <if> dump` peer line fields: rx and tx bytes, latest handshake (unix seconds). */
  async peerStats(): Promise<{ latestHandshake: number; rx: number; tx: number }> {
    const out = await this.ns.exec('wg', ['show', this.config.ifname, 'dump']);
    const line = out.trim().split('\n')[1] ?? '';
    const f = line.split('\t');
    return { latestHandshake: Number(f[4]), rx: Number(f[5]), tx: Number(f[6]) };
  }

  async stop(): Promise<void> {
    // the human-readable state (keys shown as "(hidden)") goes to the log; `dump` would print them
    await this.wg(['show', this.config.ifname]).catch(() => '');
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await Promise.race([exited, sleep(3000)]);
    }
    rmSync(`/var/run/wireguard/${this.config.ifname}.sock`, { force: true });
  }
}
