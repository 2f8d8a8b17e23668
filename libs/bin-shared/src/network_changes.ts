// "The network changed" for the tunnel: an rtnetlink listener (worker thread, koffi socket, groups
// link/addr/route v4+v6) feeding a NetworkModel; and a DNS-servers-changed notifier (resolv.conf watch or
// systemd-resolved polling).
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DebouncedNotifier } from './change_notifier';
import { parseResolvConf, resolvectlDnsServers } from './dns_control';
import { BinSharedError, assertLinux } from './errors';
import { NetworkModel } from './netlink/model';
import type { ChangeNotifier, DnsNotifierOptions, NetworkNotifierOptions } from './network_changes_api';
import { POSTERN_ROUTE_TABLE } from './tun_device_manager_api';

type WorkerMessage =
  | { kind: 'data'; bytes: Uint8Array }
  | { kind: 'ready' }
  | { kind: 'overrun' }
  | { kind: 'error'; message: string; errno: number };

function isWorkerMessage(v: unknown): v is WorkerMessage {
  return typeof v === 'object' && v !== null && 'kind' in v && typeof v.kind === 'string';
}

/**
 * Starts the rtnetlink listener. Resolves once the starting state is known; the first `notified()` then
 * resolves at once, later ones only for real changes (not about `tunName`, not in Postern's table).
 */
export async function newNetworkNotifier(opts: NetworkNotifierOptions): Promise<ChangeNotifier> {
  assertLinux('network_changes');
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(new URL('./network_changes.worker.mjs', import.meta.url), {
    workerData: { stop, ...(opts.netnsPath !== undefined ? { netnsPath: opts.netnsPath } : {}) },
  });
  const model = new NetworkModel({ ignoreInterface: opts.tunName, ignoreTable: POSTERN_ROUTE_TABLE });
  let exited = false;
  const exitedP = new Promise<void>((resolve) => {
    worker.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  const notifier = new DebouncedNotifier(opts.debounceMs ?? 150, async () => {
    Atomics.store(new Int32Array(stop), 0, 1);
    if (!exited) await exitedP;
  });
  let ready = false;

  await new Promise<void>((resolve, reject) => {
    worker.on('message', (msg: unknown) => {
      if (!isWorkerMessage(msg)) return;
      switch (msg.kind) {
        case 'data': {
          const changed = model.applyDatagram(msg.bytes);
          if (changed && ready) {
            opts.logger?.debug('network change seen on netlink');
            notifier.trigger();
          }
          return;
        }
        case 'ready':
          ready = true;
          opts.logger?.debug(model.size, 'network notifier started');
          resolve();
          return;
        case 'overrun':
          if (ready) notifier.trigger(); // lost messages: assume a change
          return;
        case 'error': {
          const err = new BinSharedError('NETWORK_NOTIFIER_FAILED', `${msg.message} (errno ${msg.errno})`);
          if (!ready) reject(err);
          else opts.logger?.error({ err }, 'network notifier stopped');
          return;
        }
      }
    });
    worker.once('error', (e) => {
      const err = new BinSharedError('NETWORK_NOTIFIER_FAILED', 'network notifier thread failed', { cause: e });
      if (!ready) reject(err);
      else opts.logger?.error({ err }, 'network notifier stopped');
    });
    worker.once('exit', () => {
      if (!ready) reject(new BinSharedError('NETWORK_NOTIFIER_FAILED', 'network notifier thread exited before it was ready'));
    });
  }).catch(async (err: unknown) => {
    await notifier.close();
    throw err;
  });
  return notifier;
}

/**
 * Notices when the system's DNS servers change. etc-resolv-conf / disabled: watches the resolv.conf
 * directory (the file is often replaced, not written) and re-reads the nameservers; systemd-resolved: polls
 * `resolvectl dns`. Only a changed list of servers counts.
 */
export async function newDnsNotifier(opts: DnsNotifierOptions): Promise<ChangeNotifier> {
  assertLinux('network_changes (DNS)');
  const path = opts.resolvConfPath ?? '/etc/resolv.conf';
  const read = async (): Promise<string> => {
    try {
      if (opts.method === 'systemd-resolved') return (await resolvectlDnsServers(opts.tunName, opts.runCommand)).join(',');
      return parseResolvConf(await readFile(path, 'utf8')).nameservers.join(',');
    } catch (err) {
      opts.logger?.debug({ err }, 'cannot read the DNS servers');
      return '<unreadable>';
    }
  };
  let last = await read();
  let checking = false;
  const check = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      const now = await read();
      if (now !== last) {
        last = now;
        notifier.trigger();
      }
    } finally {
      checking = false;
    }
  };
  const onCheckError = (err: unknown): void => {
    opts.logger?.debug({ err }, 'DNS change check failed');
  };
  let watcher: FSWatcher | undefined;
  const notifier = new DebouncedNotifier(opts.debounceMs ?? 100, () => {
    clearInterval(timer);
    watcher?.close();
    return Promise.resolve();
  });
  if (opts.method !== 'systemd-resolved') {
    try {
      watcher = watch(dirname(path), (_event, file) => {
        if (file === null || file === basename(path)) check().catch(onCheckError);
      });
    } catch (err) {
      opts.logger?.debug({ err }, 'cannot watch the resolv.conf directory; polling only');
    }
  }
  const timer = setInterval(() => {
    check().catch(onCheckError);
  }, opts.pollMs ?? (opts.method === 'systemd-resolved' ? 5000 : 2000));
  timer.unref();
  return notifier;
}
