// Aggregation of benchmark runs: medians, ratios, the results.json shape, the markdown table and the SVG chart.
// Pure functions (no IO), unit-tested in test/unit/aggregate.test.ts.

/**
 * The paths a case is measured through. `postern` is the product; the others are references. `ceiling` is the
 * minimal Node tunnel loop (src/ceiling/): the best a Node endpoint does here, measured in the same run.
 */
export type PathName = 'veth' | 'wireguard-go' | 'postern' | 'postern-relay' | 'coturn' | 'ceiling';

export interface CaseInput {
  readonly name: string;
  readonly unit: string;
  /** Higher is better (throughput) or lower is better (set-up time, CPU per GB, RSS, GC). */
  readonly better: 'higher' | 'lower';
  /** Which path is "postern" and which the "reference" for the ratio. */
  readonly posternPath: PathName;
  readonly referencePath: PathName;
  /** Raw runs per path; a path that could not be measured is absent and explained in `notes`. */
  readonly runs: Partial<Record<PathName, readonly number[]>>;
  readonly notes?: Partial<Record<PathName, string>>;
  /** Whether the case belongs in the throughput chart. */
  readonly chart?: boolean;
}

export interface CaseResult {
  readonly name: string;
  readonly unit: string;
  /** Median of the Postern path's runs, or null when not available. */
  readonly postern: number | null;
  /** Median of the reference path's runs, or null when not available. */
  readonly reference: number | null;
  /** postern / reference, or null when either is missing. */
  readonly ratio: number | null;
  /** Median of Postern direct / median of the ceiling loop, or null when either is missing. */
  readonly ceilingRatio: number | null;
  readonly better: 'higher' | 'lower';
  readonly posternPath: PathName;
  readonly referencePath: PathName;
  /** Median per path (including the ceiling and other references). */
  readonly medians: Partial<Record<PathName, number>>;
  readonly runs: Partial<Record<PathName, readonly number[]>>;
  readonly notes: Partial<Record<PathName, string>>;
  readonly chart: boolean;
}

export interface Results {
  readonly generatedAt: string;
  readonly meta: Readonly<Record<string, string | number | boolean>>;
  readonly cases: readonly CaseResult[];
}

export function median(values: readonly number[]): number | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  const hi = v[mid];
  const lo = v[mid - 1];
  if (hi === undefined) return null;
  if (v.length % 2 === 1 || lo === undefined) return hi;
  return (lo + hi) / 2;
}

export function ratio(postern: number | null, reference: number | null): number | null {
  if (postern === null || reference === null || reference === 0) return null;
  return postern / reference;
}

const PATHS: readonly PathName[] = ['veth', 'wireguard-go', 'postern', 'postern-relay', 'coturn', 'ceiling'];

export function aggregateCase(c: CaseInput): CaseResult {
  const medians: Partial<Record<PathName, number>> = {};
  for (const p of PATHS) {
    const runs = c.runs[p];
    if (runs === undefined) continue;
    const m = median(runs);
    if (m !== null) medians[p] = m;
  }
  const postern = medians[c.posternPath] ?? null;
  const reference = medians[c.referencePath] ?? null;
  return {
    name: c.name,
    unit: c.unit,
    postern,
    reference,
    ratio: ratio(postern, reference),
    ceilingRatio: ratio(medians.postern ?? null, medians.ceiling ?? null),
    better: c.better,
    posternPath: c.posternPath,
    referencePath: c.referencePath,
    medians,
    runs: c.runs,
    notes: c.notes ?? {},
    chart: c.chart ?? false,
  };
}

export function buildResults(cases: readonly CaseInput[], meta: Readonly<Record<string, string | number | boolean>>, now: Date): Results {
  return { generatedAt: now.toISOString(), meta, cases: cases.map(aggregateCase) };
}

export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined) return 'n/a';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toString();
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function toMarkdown(r: Results): string {
  const head = '| case | unit | veth (no tunnel) | wireguard-go | Postern direct | relayed: postern-relay | relayed: coturn | Node loop ceiling | ratio | Postern / ceiling | note |';
  const sep = '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|';
  const rows = r.cases.map((c) => {
    const cell = (p: PathName): string => (c.medians[p] !== undefined ? fmt(c.medians[p]) : c.notes[p] !== undefined ? 'n/a' : '');
    const ratioText = c.ratio === null ? 'n/a' : `${c.ratio.toFixed(2)}x (${c.posternPath} / ${c.referencePath}, ${c.better} is better)`;
    const notes = Object.entries(c.notes)
      .map(([p, n]) => `${p}: ${n}`)
      .join('; ');
    const vsCeiling = c.ceilingRatio === null ? '' : `${c.ceilingRatio.toFixed(2)}x`;
    return `| ${c.name} | ${c.unit} | ${cell('veth')} | ${cell('wireguard-go')} | ${cell('postern')} | ${cell('postern-relay')} | ${cell('coturn')} | ${cell('ceiling')} | ${ratioText} | ${vsCeiling} | ${notes} |`;
  });
  const meta = Object.entries(r.meta)
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(', ');
  return [`Postern system benchmark, ${r.generatedAt} (${meta})`, '', head, sep, ...rows, ''].join('\n');
}

const COLORS: Record<PathName, string> = {
  veth: '#9e9e9e',
  'wireguard-go': '#1f77b4',
  postern: '#d62728',
  'postern-relay': '#ff7f0e',
  coturn: '#2ca02c',
  ceiling: '#9467bd',
};

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A grouped bar chart (one group per chart case, one bar per path, each group scaled to its own max). */
export function toSvg(r: Results): string {
  const cases = r.cases.filter((c) => c.chart);
  const groupW = 220;
  const barW = 30;
  const top = 60;
  const plotH = 300;
  const left = 20;
  const width = left * 2 + Math.max(1, cases.length) * groupW;
  const height = top + plotH + 110;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="bold">Postern vs references: throughput per case (median of runs)</text>`,
    `<text x="${left}" y="44" font-size="11" fill="#555">${esc(r.generatedAt)}; each group scaled to its own maximum; n/a = not measured (see results.md)</text>`,
  ];
  cases.forEach((c, i) => {
    const x0 = left + i * groupW + 10;
    const max = Math.max(1e-9, ...PATHS.map((p) => c.medians[p] ?? 0));
    PATHS.forEach((p, j) => {
      const v = c.medians[p];
      const x = x0 + j * (barW + 4);
      if (v === undefined) {
        if (c.notes[p] !== undefined) parts.push(`<text x="${x + barW / 2}" y="${top + plotH - 4}" font-size="9" text-anchor="middle" fill="${COLORS[p]}">n/a</text>`);
        return;
      }
      const h = (v / max) * (plotH - 20);
      parts.push(`<rect x="${x}" y="${top + plotH - h}" width="${barW}" height="${h}" fill="${COLORS[p]}"/>`);
      parts.push(`<text x="${x + barW / 2}" y="${top + plotH - h - 4}" font-size="9" text-anchor="middle">${esc(fmt(v))}</text>`);
    });
    parts.push(`<line x1="${x0 - 4}" y1="${top + plotH}" x2="${x0 + groupW - 16}" y2="${top + plotH}" stroke="#333"/>`);
    parts.push(`<text x="${x0}" y="${top + plotH + 18}" font-size="11">${esc(c.name)}</text>`);
    parts.push(`<text x="${x0}" y="${top + plotH + 32}" font-size="10" fill="#555">${esc(c.unit)}${c.ratio === null ? '' : `, ratio ${c.ratio.toFixed(2)}x`}</text>`);
  });
  PATHS.forEach((p, j) => {
    const x = left + j * 150;
    const y = top + plotH + 60;
    parts.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[p]}"/>`);
    parts.push(`<text x="${x + 16}" y="${y + 10}" font-size="11">${esc(p === 'veth' ? 'veth (ceiling)' : p === 'postern' ? 'Postern direct' : p === 'postern-relay' ? 'relayed: postern-relay' : p === 'coturn' ? 'relayed: coturn' : p === 'ceiling' ? 'Node loop ceiling' : p)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
