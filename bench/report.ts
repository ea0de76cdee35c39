// Presents benchmark results: a terminal table, results.json and a hand-written SVG chart.

export interface ComparisonRow {
  id: string;
  label: string;
  unit: string;
  router: number;
  direct: number | null;
  /** router / direct, or the router value itself when there is nothing to compare. */
  ratio: number | null;
  goal: string;
  pass: boolean;
  note?: string;
}

export interface BenchResults {
  measuredAt: string;
  machine: { cpus: number; nginx: string; node: string };
  rows: ComparisonRow[];
}

const fmt = (n: number | null, digits = 1): string => (n === null ? '—' : n >= 100 ? n.toFixed(0) : n.toFixed(digits));

export function table(results: BenchResults): string {
  const header = ['#', 'measure', 'router', 'direct', 'ratio', 'goal', 'result'];
  const lines = results.rows.map((r) => [
    r.id,
    `${r.label} (${r.unit})`,
    fmt(r.router),
    fmt(r.direct),
    r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
    r.goal,
    r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const notes = results.rows.filter((r) => r.note).map((r) => `  ${r.id}: ${r.note}`);
  return [row(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(row), ...(notes.length ? ['', 'notes:', ...notes] : [])].join('\n');
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Router vs direct as horizontal bars, scaled per row (the larger of the two fills the track),
 * with the absolute numbers printed; rows without a direct side show the value and the goal only.
 */
export function svgChart(results: BenchResults): string {
  const rowHeight = 46;
  const left = 330;
  const track = 420;
  const top = 60;
  const width = left + track + 340; // room for the value label after a full bar and the verdict
  const height = top + results.rows.length * rowHeight + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="16" y="26" font-size="16" font-weight="bold">regcache benchmark — router (nginx + cache) vs the registry direct</text>`,
    `<text x="16" y="44" fill="#555">${escapeXml(`${results.measuredAt} · ${results.machine.cpus} CPUs · nginx ${results.machine.nginx} · node ${results.machine.node}`)}</text>`,
  ];
  results.rows.forEach((r, i) => {
    const y = top + i * rowHeight;
    const max = Math.max(r.router, r.direct ?? 0) || 1;
    const barW = (v: number) => Math.max(1, (v / max) * track);
    parts.push(`<text x="16" y="${y + 14}">${escapeXml(`${r.id}. ${r.label}`)}</text>`);
    parts.push(`<text x="16" y="${y + 30}" fill="#777">${escapeXml(r.unit)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 2}" width="${barW(r.router)}" height="14" fill="${r.pass ? '#2e8b57' : '#c0392b'}"/>`);
    parts.push(`<text x="${left + barW(r.router) + 6}" y="${y + 14}">router ${escapeXml(fmt(r.router))}</text>`);
    if (r.direct !== null) {
      parts.push(`<rect x="${left}" y="${y + 20}" width="${barW(r.direct)}" height="14" fill="#95a5a6"/>`);
      parts.push(`<text x="${left + barW(r.direct) + 6}" y="${y + 32}">direct ${escapeXml(fmt(r.direct))}</text>`);
    }
    const verdict = `${r.ratio === null ? '' : `${r.ratio.toFixed(2)}× · `}goal ${r.goal} · ${r.pass ? 'PASS' : 'FAIL'}`;
    parts.push(`<text x="${width - 16}" y="${y + 24}" text-anchor="end" fill="${r.pass ? '#2e8b57' : '#c0392b'}">${escapeXml(verdict)}</text>`);
  });
  parts.push(
    `<text x="16" y="${height - 14}" fill="#777">green: goal met · red: goal missed · grey: the same registry without regcache in front</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
