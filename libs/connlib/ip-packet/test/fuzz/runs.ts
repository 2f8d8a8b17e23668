// Fuzz budget: a bounded run by default; POSTERN_FUZZ_RUNS=<n> for a longer one.
export const FUZZ_RUNS = Number(process.env['POSTERN_FUZZ_RUNS'] ?? 10_000);

export function report(target: string, runs: number): void {
  process.stdout.write(`fuzz ${target}: ${runs} inputs tried\n`);
}
