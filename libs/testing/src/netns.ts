// Network namespaces for real-network tests: created by the test, always removed afterwards.
// Every namespace and veth made here carries the caller's prefix, so `removeLeftovers(prefix)` can
// clean up what a killed earlier run left behind before a suite starts.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export class CommandError extends Error {
  readonly code = 'COMMAND_FAILED';
  constructor(
    readonly command: readonly string[],
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`${command.join(' ')} failed: ${stderr.trim()}`, options);
  }
}

/** Runs a command, throwing CommandError with its stderr when it fails. */
export async function run(cmd: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, [...args], { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr) : '';
    throw new CommandError([cmd, ...args], stderr, { cause: err });
  }
}

/** Namespaces whose name starts with `prefix`. */
export function listNamespaces(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

/** Removes namespaces (and the processes inside them) and root-namespace links named `prefix*`. */
export function removeLeftovers(prefix: string): void {
  for (const ns of listNamespaces(prefix)) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } catch {
      // namespace vanished meanwhile
    }
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already removed
    }
  }
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  for (const m of links.matchAll(/^\d+: ([^:@]+)[:@]/gm)) {
    const name = m[1];
    if (name?.startsWith(prefix)) {
      try {
        execFileSync('ip', ['link', 'del', name], { stdio: 'ignore' });
      } catch {
        // already removed
      }
    }
  }
}

/** One network namespace. */
export class Netns {
  private readonly children = new Set<ChildProcess>();

  private constructor(readonly name: string) {}

  static async create(name: string): Promise<Netns> {
    if (name.length > 15) throw new Error(`namespace name ${name} is longer than 15 characters`);
    await run('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    await ns.exec('ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  exec(cmd: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  /** Starts a long-running process inside the namespace; it is killed by `destroy()`. */
  spawn(cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { stdio: 'pipe', ...opts });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  async destroy(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    this.children.clear();
    try {
      const pids = (await run('ip', ['netns', 'pids', this.name])).split('\n').filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } catch {
      // namespace already gone
    }
    try {
      await run('ip', ['netns', 'del', this.name]);
    } catch {
      // already removed
    }
  }
}

/** Connects two namespaces with a veth pair and gives each end an address (CIDR notation). */
export async function link(
  a: Netns,
  aAddr: string,
  b: Netns,
  bAddr: string,
  names: { a: string; b: string },
): Promise<void> {
  await run('ip', ['link', 'add', names.a, 'netns', a.name, 'type', 'veth', 'peer', 'name', names.b, 'netns', b.name]);
  await a.exec('ip', ['addr', 'add', aAddr, 'dev', names.a]);
  await b.exec('ip', ['addr', 'add', bAddr, 'dev', names.b]);
  await a.exec('ip', ['link', 'set', names.a, 'up']);
  await b.exec('ip', ['link', 'set', names.b, 'up']);
}
