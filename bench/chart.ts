// The benchmarks' one chart: log-log series with dots (and lines), reference lines and a legend,
// as an SVG string. No node: modules: report.ts writes it into docs/bench/, the kernel page
// (docs/kernels/) draws its live charts with it.

export interface Series {
  name: string;
  points: [number, number][];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A log-log chart of series (lines with dots), optional horizontal reference lines, a legend. */
export function svgChart(opts: { title: string; xLabel: string; yLabel: string; series: Series[]; hlines?: { label: string; y: number }[]; xTicks?: { x: number; label: string }[]; lines?: boolean }): string {
  const W = 760, H = 440, L = 70, R = 210, T = 40, B = 60;
  const pts = opts.series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  const ys = [...pts.map((p) => p[1]), ...(opts.hlines ?? []).map((h) => h.y)].filter((y) => y > 0);
  const xs = pts.map((p) => p[0]);
  if (xs.length === 0 || ys.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="60"><text x="10" y="30">${esc(opts.title)}: no data</text></svg>\n`;
  const lx0 = Math.floor(Math.log10(Math.min(...xs))), lx1 = Math.max(lx0 + 1, Math.ceil(Math.log10(Math.max(...xs))));
  const ly0 = Math.floor(Math.log10(Math.min(...ys))), ly1 = Math.max(ly0 + 1, Math.ceil(Math.log10(Math.max(...ys))));
  const X = (x: number) => L + ((Math.log10(x) - lx0) / (lx1 - lx0)) * (W - L - R);
  const Y = (y: number) => H - B - ((Math.log10(y) - ly0) / (ly1 - ly0)) * (H - T - B);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`];
  for (let e = ly0; e <= ly1; e++) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${Y(10 ** e)}" y2="${Y(10 ** e)}" stroke="#ddd"/>`, `<text x="${L - 6}" y="${Y(10 ** e) + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toPrecision(1)}</text>`);
  }
  const xTicks = opts.xTicks ?? Array.from({ length: lx1 - lx0 + 1 }, (_, i) => ({ x: 10 ** (lx0 + i), label: String(Number((10 ** (lx0 + i)).toPrecision(1))) }));
  for (const t of xTicks) out.push(`<line x1="${X(t.x)}" x2="${X(t.x)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`, `<text x="${X(t.x)}" y="${H - B + 16}" text-anchor="middle">${esc(t.label)}</text>`);
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  for (const h of opts.hlines ?? []) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${Y(h.y)}" y2="${Y(h.y)}" stroke="#000" stroke-dasharray="6 4"/>`, `<text x="${W - R + 4}" y="${Y(h.y) + 4}" font-size="11">${esc(h.label)}</text>`);
  }
  opts.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    const p = s.points.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
    if (opts.lines !== false && p.length > 1) out.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${p.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of p) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${c}"/>`);
    // Legend in the right margin, bottom-aligned: the peak labels sit higher up at their values.
    const ly = H - B - (opts.series.length - 1 - i) * 16;
    out.push(`<rect x="${W - R + 8}" y="${ly - 9}" width="10" height="10" fill="${c}"/>`, `<text x="${W - R + 22}" y="${ly}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

