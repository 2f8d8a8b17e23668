// Minimal namespace helpers for this package's e2e tests. (Not @postern/testing: a test-file import of it
// makes every app that imports bin-shared fail the module-boundary lint, which follows the graph transitively.)
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export async function run(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, [...args], { timeout: 30_000 });
    return stdout;
  } catch (err) {
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr) : '';
    throw new Error(`${[cmd, ...args].join(' ')} failed: ${stderr.trim()}`, { cause: err });
  }
}

/** Removes namespaces named `prefix*` (killing what runs inside) left by a killed earlier run. */
export function removeLeftovers(prefix: string): void {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const ns of out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix))) {
    try {
      for (const pid of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already removed
    }
  }
}

export class Netns {
  private constructor(readonly name: string) {}

  static async create(name: string): Promise<Netns> {
    if (name.length > 15) throw new Error(`namespace name ${name} is longer than 15 characters`);
    await run('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    await ns.exec('ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  get path(): string {
    return `/run/netns/${this.name}`;
  }

  exec(cmd: string, args: readonly string[]): Promise<string> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }

  async destroy(): Promise<void> {
    try {
      await run('ip', ['netns', 'del', this.name]);
    } catch {
      // already removed
    }
  }
}
