// A run's JSON -> docs/benchmarks.md and docs/bench/*.svg. Pure functions from RunResult to
// text (tested in test/bench.test.ts), plus a small CLI:
//   node dist/bench/report.js [bench/results/published.json] [--out docs]
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { svgChart } from './chart.js';
import { median } from './stats.js';
import { EXTERNAL_REFERENCE, HEADLINE_PEERS, HEADLINE_RESOLUTIONS, SETTLE_MS, resolutionName } from './config.js';
import type { E2EResult, KernelResult, RunResult, Stage } from './results.js';
import { STAGES, parseRun } from './results.js';
import type { CliRssResult } from './rss.js';
import type { TechniquesRun } from './techniques.js';

export { svgChart, type Series } from './chart.js';

const fmtMs = (ms: number | undefined): string =>
  ms === undefined || Number.isNaN(ms) ? '' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
const pct = (x: number) => `${(100 * x).toFixed(0)} %`;
const cell = (s: string) => s.replace(/\|/g, '\\|');

function table(head: string[], rows: string[][]): string {
  return [`| ${head.map(cell).join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** Resolutions in the order they appear in the run (the grid's order). */
function resolutionsOf(items: { resolution: string }[]): string[] {
  return [...new Set(items.map((i) => i.resolution))];
}

/**
 * a's forward over b's in one cell of one run: the median of the per-round ratios where both have
 * their samples by round (forwardRounds, as many each: a slow spell of the host spans a round and
 * falls on both sides of a pair), else the ratio of the two medians (runs recorded before rounds
 * were kept).
 */
export function pairedRatio(a: E2EResult, b: E2EResult): number {
  return perRoundRatio(a.forwardRounds, b.forwardRounds) ?? a.stages.forward!.medianMs / b.stages.forward!.medianMs;
}

/**
 * pairedRatio of the back-to-back forwards (forwardAgainRounds: each round's forward run once
 * more right after the timed one, threads still awake); undefined where either side lacks them.
 */
export function againRatio(a: E2EResult, b: E2EResult): number | undefined {
  return perRoundRatio(a.forwardAgainRounds, b.forwardAgainRounds);
}

/** The median of the per-round ratios ra[i] / rb[i], where both have as many rounds (at least one). */
function perRoundRatio(ra: readonly number[] | undefined, rb: readonly number[] | undefined): number | undefined {
  return ra !== undefined && rb !== undefined && ra.length > 0 && ra.length === rb.length ? median(ra.map((x, i) => x / rb[i]!)) : undefined;
}

/** How a speed-up pairs two contestants' forwards: pairedRatio (the timed ones) or againRatio (back to back). */
type RoundRatio = (a: E2EResult, b: E2EResult) => number | undefined;

/** Our forward / the peer's (pairedRatio), per arch and resolution: < 1 means ours is faster. */
export function ratios(e2e: readonly E2EResult[]): { arch: string; resolution: string; ours: string; peer: string; ratio: number }[] {
  const timed = e2e.filter((r) => r.skipped === undefined && r.stages.forward !== undefined);
  const out: { arch: string; resolution: string; ours: string; peer: string; ratio: number }[] = [];
  for (const o of timed.filter((r) => r.kind === 'ours')) {
    for (const p of timed.filter((r) => r.kind === 'peer' && r.arch === o.arch && r.resolution === o.resolution)) {
      out.push({ arch: o.arch, resolution: o.resolution, ours: o.contestant, peer: p.contestant, ratio: pairedRatio(o, p) });
    }
  }
  return out;
}

/** Which family a contestant of ours belongs to: a CPU path or a gpu.js mode (in Node or in Chromium). */
export const family = (name: string): 'cpu' | 'gpujs' => (name.startsWith('gpujs-') || name.startsWith('chromium-') ? 'gpujs' : 'cpu');


export interface Headline {
  arch: string;
  resolution: string;
  family: 'cpu' | 'gpujs';
  /** our fastest contestant of that family (forward median), or undefined when none was timed */
  ours?: string;
  oursMs?: number;
  /** peer -> ours / peer, for the peers timed at that arch and resolution */
  ratio: Record<string, number>;
  /** When none of the family was timed: the skip reason of the one predicted fastest. */
  note?: string;
  /** Its predicted forward (ms) and ratios from it: an estimate from a smaller run, never a measurement. */
  predictedMs?: number;
  predictedRatio?: Record<string, number>;
}

const predictedSeconds = (why: string | undefined): number => Number(/^predicted ([\d.]+) s/.exec(why ?? '')?.[1] ?? Infinity);

/** Per arch and headline resolution: our fastest CPU path and fastest gpu.js mode against each ONNX peer. */
export function headline(e2e: readonly E2EResult[]): Headline[] {
  const timed = e2e.filter((r) => r.skipped === undefined && r.stages.forward !== undefined && r.stages.forward.samples > 0);
  const out: Headline[] = [];
  for (const arch of [...new Set(e2e.map((r) => r.arch))]) {
    for (const resolution of HEADLINE_RESOLUTIONS) {
      const here = timed.filter((r) => r.arch === arch && r.resolution === resolution);
      for (const fam of ['cpu', 'gpujs'] as const) {
        const best = here.filter((r) => r.kind === 'ours' && family(r.contestant) === fam)
          .sort((a, b) => a.stages.forward!.medianMs - b.stages.forward!.medianMs)[0];
        const h: Headline = { arch, resolution, family: fam, ratio: {} };
        if (best !== undefined) {
          h.ours = best.contestant;
          h.oursMs = best.stages.forward!.medianMs;
          for (const peer of HEADLINE_PEERS) {
            const p = here.find((r) => r.contestant === peer);
            if (p !== undefined) h.ratio[peer] = pairedRatio(best, p);
          }
        } else {
          const skipped = e2e.filter((r) => r.arch === arch && r.resolution === resolution && r.kind === 'ours' && family(r.contestant) === fam && r.skipped !== undefined)
            .sort((a, b) => predictedSeconds(a.skipped) - predictedSeconds(b.skipped))[0];
          if (skipped !== undefined) {
            h.note = `${skipped.contestant} ${skipped.skipped}`;
            const ms = predictedSeconds(skipped.skipped) * 1000;
            if (Number.isFinite(ms)) {
              h.predictedMs = ms;
              h.predictedRatio = {};
              for (const peer of HEADLINE_PEERS) {
                const p = here.find((r) => r.contestant === peer);
                if (p !== undefined) h.predictedRatio[peer] = ms / p.stages.forward!.medianMs;
              }
            }
          }
        }
        out.push(h);
      }
    }
  }
  return out;
}

function headlineSection(run: RunResult): string {
  const rows = headline(run.e2e);
  if (rows.length === 0) return '';
  return `## Headline: ours against onnxruntime (forward pass)

Our fastest CPU path and our fastest gpu.js mode (Node or headless Chromium; Chromium's WebGL and
WebGPU run on SwiftShader, a software renderer, here) at each headline resolution, against each
peer in the same run: below 1, ours is faster. Each ratio is the median of the per-round ratios
(every round runs each contestant once, one after the other, so a slow spell of the host falls on
both sides of a pair); the forward ms is the median of the rounds. "not timed" means no
contestant of that family finished a steady sample there; the cell then names the one predicted
fastest and why it was skipped, and the figures marked "predicted" are its predicted forward (its
measured ms per MAC times this size's MACs) over the peers' measured ones: estimates, not
measurements.

${table(['arch', 'resolution', 'ours (fastest of its family)', 'forward ms', 'two-thread speed-up', 'two-thread speed-up, back to back', ...HEADLINE_PEERS.map((p) => `ours / ${p}`)],
  rows.map((h) => [h.arch, h.resolution, h.ours === undefined ? `${h.family === 'cpu' ? 'CPU' : 'gpu.js'}: not timed${h.note !== undefined ? ` (${h.note})` : ''}` : h.ours,
    h.predictedMs !== undefined ? `~${fmtMs(h.predictedMs)} (predicted)` : fmtMs(h.oursMs),
    h.family === 'cpu' ? fmtSpeedup(ourSpeedup(run.e2e, h.arch, h.resolution)) : '',
    h.family === 'cpu' ? fmtSpeedup(ourSpeedup(run.e2e, h.arch, h.resolution, againRatio)) : '',
    ...HEADLINE_PEERS.map((p) => (h.ratio[p] !== undefined ? h.ratio[p]!.toFixed(2)
      : h.predictedRatio?.[p] !== undefined ? `~${h.predictedRatio[p]! >= 10 ? h.predictedRatio[p]!.toFixed(0) : h.predictedRatio[p]!.toFixed(1)} (predicted)` : '—'))]))}

**Two-thread speed-up**: our fastest CPU path's forward on 1 thread over its forward on 2 threads
(same run, the median of the per-round ratios); the peers' own speed-ups are in the
thread-for-thread table below. **Back to back**: the same, of the forward each round ran once more
right after the timed one, its threads still awake (the back-to-back table below).
${warmupNote(run.e2e)}`;
}

/**
 * What the run says of its warm-up (E2EResult.warmupPasses): every contestant's untimed passes
 * between its first call and the timed rounds, by arch and resolution. Empty for runs recorded
 * before it.
 */
export function warmupNote(e2e: readonly E2EResult[]): string {
  const cells = new Map<string, number[]>();
  for (const r of e2e) {
    if (r.skipped !== undefined || r.warmupPasses === undefined) continue;
    const key = `${r.arch} ${r.resolution}`;
    cells.set(key, [...(cells.get(key) ?? []), r.warmupPasses]);
  }
  if (cells.size === 0) return '';
  const range = (xs: number[]) => (Math.max(...xs) === 0 ? 'none' : Math.min(...xs) === Math.max(...xs) ? String(xs[0]) : `${Math.min(...xs)}-${Math.max(...xs)}`);
  const list = [...cells].map(([cell, xs]) => `${cell} ${range(xs)}`).join(', ');
  return `
**Warm-up**: after its first call (the first-forward column below), each contestant ran untimed
passes back to back before the timed rounds (bench/config.ts \`warmup\`: up to a number of passes
or of seconds, from the time the rounds leave; none where a round takes long). Passes, by arch
and resolution: ${list}.

Over a process's first hundred or so calls, V8 compiles its hot JavaScript (ours: the forward's
scheduling and the kernels' glue; jpeg-js's decode; the postprocess) with TurboFan on background
threads, which on a machine with as many cores as the forward has threads take a core from the
forward (\`node dist/bench/background.js\`; docs/profile.md, "The twenty-ninth"). The rounds time
the steady state; the first call is reported apart.
`;
}

/** One contestant at one cell, when it has steady samples. */
function timedResult(e2e: readonly E2EResult[], arch: string, resolution: string, contestant: string): E2EResult | undefined {
  const r = e2e.find((x) => x.arch === arch && x.resolution === resolution && x.contestant === contestant && x.skipped === undefined);
  return r?.stages.forward !== undefined && r.stages.forward.samples > 0 ? r : undefined;
}

/** Our fastest CPU path on 1 thread over our fastest on 2 threads (threadForThread's rows), pairedRatio. */
export function ourSpeedup(e2e: readonly E2EResult[], arch: string, resolution: string, ratio: RoundRatio = pairedRatio): number | undefined {
  const rows = threadForThread(e2e).filter((r) => r.arch === arch && r.resolution === resolution);
  const at = (threads: number) => {
    const name = rows.find((r) => r.threads === threads)?.ours;
    return name === undefined ? undefined : timedResult(e2e, arch, resolution, name);
  };
  const one = at(1), two = at(2);
  return one !== undefined && two !== undefined ? ratio(one, two) : undefined;
}

/** A peer's 1-thread forward over its 2-thread one (pairedRatio, or againRatio). */
function peerSpeedup(e2e: readonly E2EResult[], arch: string, resolution: string, peer: string, ratio: RoundRatio = pairedRatio): number | undefined {
  const one = timedResult(e2e, arch, resolution, `${peer}-1t`), two = timedResult(e2e, arch, resolution, `${peer}-2t`);
  return one !== undefined && two !== undefined ? ratio(one, two) : undefined;
}

const fmtSpeedup = (x: number | undefined) => (x === undefined ? '—' : `${x.toFixed(2)}x`);

/** Per arch, headline resolution and thread count: our fastest CPU path on that many threads against the ONNX peers on as many. */
export function threadForThread(e2e: readonly E2EResult[]): { arch: string; resolution: string; threads: number; ours?: string; oursMs?: number; ratio: Record<string, number> }[] {
  const timed = e2e.filter((r) => r.skipped === undefined && r.stages.forward !== undefined && r.stages.forward.samples > 0);
  const out: ReturnType<typeof threadForThread> = [];
  for (const arch of [...new Set(e2e.map((r) => r.arch))]) {
    for (const resolution of HEADLINE_RESOLUTIONS) {
      const here = timed.filter((r) => r.arch === arch && r.resolution === resolution);
      for (const threads of [...new Set(HEADLINE_PEERS.map((p) => Number(/-(\d+)t$/.exec(p)![1])))]) {
        const best = here.filter((r) => r.kind === 'ours' && family(r.contestant) === 'cpu' && r.threads === threads)
          .sort((a, b) => a.stages.forward!.medianMs - b.stages.forward!.medianMs)[0];
        const row: ReturnType<typeof threadForThread>[number] = { arch, resolution, threads, ratio: {} };
        if (best !== undefined) {
          row.ours = best.contestant;
          row.oursMs = best.stages.forward!.medianMs;
          for (const peer of HEADLINE_PEERS.filter((p) => p.endsWith(`-${threads}t`))) {
            const p = here.find((r) => r.contestant === peer);
            if (p !== undefined) row.ratio[peer] = pairedRatio(best, p);
          }
        }
        out.push(row);
      }
    }
  }
  return out;
}

function threadSection(run: RunResult): string {
  const rows = threadForThread(run.e2e);
  if (rows.length === 0) return '';
  const peers = ['onnxruntime-web', 'onnxruntime-node'];
  return `Thread for thread: our fastest CPU path on *t* threads against each peer on *t* threads (the
same per-round ratios):

${table(['arch', 'resolution', 'threads', 'ours', 'forward ms', ...peers.map((p) => `ours / ${p}`), 'two-thread speed-up: ours', ...peers.map((p) => `two-thread speed-up: ${p}`)],
  rows.map((r) => [r.arch, r.resolution, String(r.threads), r.ours ?? 'not timed', fmtMs(r.oursMs),
    ...peers.map((p) => (r.ratio[`${p}-${r.threads}t`] !== undefined ? r.ratio[`${p}-${r.threads}t`]!.toFixed(2) : '—')),
    r.threads === 2 ? fmtSpeedup(ourSpeedup(run.e2e, r.arch, r.resolution)) : '',
    ...peers.map((p) => (r.threads === 2 ? fmtSpeedup(peerSpeedup(run.e2e, r.arch, r.resolution, p)) : ''))]))}
${backToBackSection(run, rows, peers)}`;
}

/**
 * The thread-for-thread table again for the back-to-back forwards (againRatio), where the run
 * has them: each round's forward run once more right after the timed one.
 */
function backToBackSection(run: RunResult, rows: ReturnType<typeof threadForThread>, peers: readonly string[]): string {
  const find = (arch: string, resolution: string, name: string | undefined) => (name === undefined ? undefined : timedResult(run.e2e, arch, resolution, name));
  const withAgain = rows.filter((r) => find(r.arch, r.resolution, r.ours)?.forwardAgainRounds !== undefined);
  if (withAgain.length === 0) return '';
  const cell = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(2));
  return `
Back to back: in the same rounds, each contestant ran its forward once more right after the timed
one (the input written again first, untimed), its threads still awake, as in a stream of frames;
the timed forward above comes after ${SETTLE_MS} ms and the other contestants' passes, its threads
at rest. On the 2-core VM of the project's published runs, a thread woken after a rest often
starts on its waker's CPU and shares it for milliseconds (docs/profile.md, "Where the two threads
run"; \`node dist/bench/placement.js\` measures it on any Linux machine).

${table(['arch', 'resolution', 'threads', 'ours', 'forward ms, back to back', ...peers.map((p) => `ours / ${p}`), 'two-thread speed-up: ours', ...peers.map((p) => `two-thread speed-up: ${p}`)],
  withAgain.map((r) => {
    const ours = find(r.arch, r.resolution, r.ours)!;
    return [r.arch, r.resolution, String(r.threads), r.ours!, fmtMs(median(ours.forwardAgainRounds!)),
      ...peers.map((p) => { const q = find(r.arch, r.resolution, `${p}-${r.threads}t`); return q === undefined ? '—' : cell(againRatio(ours, q)); }),
      r.threads === 2 ? fmtSpeedup(ourSpeedup(run.e2e, r.arch, r.resolution, againRatio)) : '',
      ...peers.map((p) => (r.threads === 2 ? fmtSpeedup(peerSpeedup(run.e2e, r.arch, r.resolution, p, againRatio)) : ''))];
  }))}
`;
}

function stageCell(r: E2EResult, s: Stage): string {
  const t = r.stages[s];
  if (t === undefined) return '—';
  return t.samples > 0 ? `${fmtMs(t.medianMs)} ±${pct(t.spread)}` : `${fmtMs(t.firstMs)} (1 run)`;
}

function e2eSection(run: RunResult): string {
  const parts: string[] = [];
  for (const arch of [...new Set(run.e2e.map((r) => r.arch))]) {
    const rows = run.e2e.filter((r) => r.arch === arch);
    parts.push(`### ${arch}: stages in ms (median ± p10–p90 spread), first forward call, peak memory`);
    parts.push(table(
      ['resolution', 'contestant', 'threads', ...STAGES, 'first forward', 'forward GFLOP/s', 'peak RSS MB', 'GPU objects'],
      rows.map((r) => r.skipped !== undefined
        ? [r.resolution, r.contestant, String(r.threads), `skipped: ${r.skipped}`, '', '', '', '', '', '', '', '']
        : [r.resolution, r.contestant, String(r.threads), ...STAGES.map((s) => stageCell(r, s)),
          fmtMs(r.stages.forward?.firstMs), r.stages.forward !== undefined ? (2 * r.macs / (r.stages.forward.medianMs * 1e6)).toFixed(2) : '',
          r.peakRssMB !== undefined ? r.peakRssMB.toFixed(0) : '', r.liveObjects !== undefined ? String(r.liveObjects) : '']),
    ));
    const rs = ratios(rows);
    if (rs.length > 0) {
      const peers = [...new Set(rs.map((r) => r.peer))];
      const keys = [...new Set(rs.map((r) => `${r.resolution}\u0000${r.ours}`))];
      parts.push('Forward-pass ratio, ours / peer, the median of the per-round ratios (below 1: ours is faster):');
      parts.push(table(['resolution', 'ours', ...peers], keys.map((k) => {
        const [res, ours] = k.split('\u0000') as [string, string];
        return [res, ours, ...peers.map((p) => {
          const r = rs.find((x) => x.resolution === res && x.ours === ours && x.peer === p);
          return r === undefined ? '' : r.ratio.toFixed(2);
        })];
      })));
    }
    const missing = [...new Set(rows.filter((r) => r.missingStages !== undefined).map((r) => `${r.contestant}: ${r.missingStages}`))];
    if (missing.length > 0) parts.push(`Stages not timed: ${missing.join('; ')}.`);
    parts.push(`![${arch}: forward ms vs megapixels](bench/e2e-${arch}.svg)`);
  }
  return parts.join('\n\n');
}

function kernelCell(r: KernelResult | undefined): string {
  if (r === undefined) return '';
  if (r.skipped !== undefined) return r.skipped.startsWith('failed validation') ? 'FAILED CHECK' : 'skipped';
  const t = r.timing!;
  const rate = r.gflops !== undefined ? `${r.gflops.toFixed(2)} GF/s` : r.gbps !== undefined ? `${r.gbps.toFixed(2)} GB/s` : '';
  const prep = r.prepareMs !== undefined && r.prepareMs >= 0.1 ? `, prepare ${fmtMs(r.prepareMs)}` : '';
  return `${fmtMs(t.samples > 0 ? t.medianMs : t.firstMs)} ms · ${rate} (first ${fmtMs(t.firstMs)}${prep})`;
}

function kernelSection(run: RunResult): string {
  const parts: string[] = [];
  const resolutions = resolutionsOf(run.kernels);
  for (const backend of [...new Set(run.kernels.map((k) => k.backend))]) {
    const rows = run.kernels.filter((k) => k.backend === backend);
    const ids = [...new Set(rows.map((k) => k.id))];
    parts.push(`### ${backend}`);
    parts.push(table(['kernel', ...resolutions], ids.map((id) => [id, ...resolutions.map((res) => kernelCell(rows.find((k) => k.id === id && k.resolution === res)))])));
    const failed = rows.filter((k) => k.skipped?.startsWith('failed validation'));
    if (failed.length > 0) parts.push(`Failed checks (not timed):\n\n${failed.map((k) => `- ${k.resolution} ${k.id}: ${k.check?.message ?? k.skipped}`).join('\n')}`);
    const reasons = [...new Set(rows.filter((k) => k.skipped !== undefined && !k.skipped.startsWith('failed validation')).map((k) => k.skipped!.replace(/predicted [\d.]+ s/, 'predicted time')))];
    if (reasons.length > 0) parts.push(`Skipped cells: ${reasons.join('; ')}.`);
  }
  return parts.join('\n\n');
}

/** The CLI's peak memory and stage shares on one image (bench/rss.ts), when that file is beside the run. */
export function cliSection(c: CliRssResult, source: string): string {
  const stages = Object.keys(c.stagesMs).filter((k) => k !== 'total');
  return `## The CLI on one image: peak memory and stages

From \`${c.command}\` (written to ${source}, ${c.started}): \`retinaface -i ${c.image} -a ${c.arch} --backend
${c.backend} --threads ${c.threads}\`. Peak RSS (VmHWM) is the median of three runs of each process alone: the CLI
decodes, runs the network, post-processes, draws and writes a PNG; the peer (${c.peer}) decodes the
same JPEG with the same decoder and runs the exported model once.

${table(['process', 'peak RSS MB'], [
  [`retinaface CLI (${c.backend}, ${c.threads} threads)`, c.cliPeakRssMB.toFixed(0)],
  [c.peer, c.peerPeakRssMB.toFixed(0)],
  ['ratio, CLI / peer', (c.cliPeakRssMB / c.peerPeakRssMB).toFixed(2)],
])}

Stages (the CLI's \`--benchmark\` medians, after one warm-up) and their share of the total:

${table(['', ...stages, 'total'], [
  ['ms', ...stages.map((k) => fmtMs(c.stagesMs[k])), fmtMs(c.stagesMs.total)],
  ['share', ...stages.map((k) => pct(c.shares[k] ?? NaN)), ''],
])}
`;
}

/** Where one forward's time goes, per module and per thread (the run's 'profile' section, bench/profile.ts). */
export function profileSection(run: RunResult): string {
  const p = run.profile;
  if (p === undefined) return '';
  const names = Array.from({ length: p.threads }, (_, t) => (t === 0 ? 'caller' : `worker ${t}`));
  const ms = (v: number) => v.toFixed(2);
  const threadCells = (busy: number[], wait: number[]) => busy.flatMap((b, t) => [ms(b), ms(wait[t]!)]);
  return `## Per-layer profile: ${p.arch} at ${p.width}x${p.height}, cpu-simd on ${p.threads} threads

From the run's profile section (\`node dist/bench/profile.js --arch ${p.arch} --size ${p.width}x${p.height} --threads ${p.threads} --passes ${p.passes} --json FILE\`,
seeded weights): each module's own ops (src/model/anatomy.ts), their median time over ${p.passes} passes
without the pool's stamps (forward ${ms(p.forwardMs)} ms${p.replayedForwardMs === undefined ? '' : `; these passes walk the network, since their stamps are taps, while a
pass without taps replays a recorded one, src/backends/simd_replay.ts: ${ms(p.replayedForwardMs)} ms`}), and, from passes with the thread pool's
stamps on (forward ${ms(p.profiledForwardMs)} ms), each thread's time in the module: **busy** running its shares,
**wait** for the caller from the end of its share to the last one's (the others' imbalance and
wake-up), for a worker the rest of the module's wall time (idle between its shares). Tasks:
pool tasks the module ran (in brackets: those dispatched to every thread, the sync points).

${table(['module', 'own ops', 'MMAC', 'ms', 'GFLOP/s', 'tasks (dispatched)', 'wall ms (stamped)', ...names.flatMap((n) => [`${n} busy`, `${n} wait`])],
  [...p.modules.map((m) => [`\`${m.path}\``, m.ops, (m.macs / 1e6).toFixed(1), ms(m.ms), m.macs > 0 ? ((2 * m.macs) / (m.ms * 1e6)).toFixed(1) : '',
    `${m.tasks} (${m.dispatches})`, ms(m.profiledMs), ...threadCells(m.busyMs, m.waitMs)]),
  ['**forward**', '', (p.modules.reduce((a, m) => a + m.macs, 0) / 1e6).toFixed(1), ms(p.forwardMs), '', `${p.forward.tasks} (${p.forward.dispatches})`,
    ms(p.forward.stampedMs), ...threadCells(p.forward.busyMs, p.forward.waitMs)]])}

The forward per thread (ms; medians per column, so they add up only roughly):

${table(['thread', 'busy', 'posted -> its share starts', 'after its share, until the last one is done', 'the rest: a worker idle between tasks, the caller outside the pool'],
  p.perThread.map((t) => [t.name, ms(t.busy), ms(t.starting), ms(t.afterShare), ms(t.rest)]))}

The caller waits ${(100 * p.callerWaitShare).toFixed(1)} % of the forward for the others.${p.dispatchOverheadUs !== null ? ` A dispatch costs ${p.dispatchOverheadUs.toFixed(0)} us (median of posted -> last one done, minus the longest share${p.tinyDispatchOverheadUs !== null ? `; ${p.tinyDispatchOverheadUs.toFixed(0)} us where the longest share is under 0.1 ms` : ''}).` : ''}
`;
}

/** What each CPU technique bought on one forward pass (bench/techniques.ts), per file beside the run. */
export function techniquesSection(runs: { result: TechniquesRun; source: string }[]): string {
  if (runs.length === 0) return '';
  return `## What each CPU technique buys (one forward pass)

${runs.map(({ result: t, source }) => `### ${t.arch} at ${t.resolution}

From \`node dist/bench/techniques.js --arch ${t.arch} --res ${t.resolution}${t.runs !== undefined && t.runs !== 5 ? ` --runs ${t.runs}` : ''} --out ${source}\`: each step adds one technique to
the step above; medians after ${t.warmups === undefined ? 'one warm-up call' : `${t.warmups} warm-up calls (a replaying step's: until one replays)`}, all in one process, the steps' calls interleaved round by round.

${table(['step', 'adds', 'forward ms', 'GFLOP/s', 'x over the step above', 'x over cpu-naive'], t.results.map((r, i) => [
  r.step, r.adds, fmtMs(r.medianMs), r.gflops.toFixed(2),
  i === 0 ? '' : (t.results[i - 1]!.medianMs / r.medianMs).toFixed(2), i === 0 ? '' : (t.results[0]!.medianMs / r.medianMs).toFixed(1),
]))}
`).join('\n')}`;
}

/** The machine as the run described it: the OS's figures from Node, the browser's from the kernel page (GPU included). */
function machineRows(run: RunResult): string[][] {
  const m = run.machine;
  return [
    ['CPU', `${m.cpu}, ${m.cores} cores${m.memoryGB !== undefined ? `, ${m.memoryGB} GB` : ''}`],
    ['OS', m.os],
    ...(m.browser !== undefined ? [['browser', m.browser]] : []),
    ...(m.webgl !== undefined ? [['WebGL renderer', m.webgl]] : []),
    ...(m.webgpu !== undefined ? [['WebGPU adapter', m.webgpu]] : []),
    ...Object.entries(run.versions).map(([k, v]) => [k, v]),
  ];
}

/** How anyone measures these kernels on their own GPU (written into the Node runs' report only). */
const KERNEL_PAGE_SECTION = `## Measuring on your own GPU: the kernel page

The figures here are this machine's: its CPU, and SwiftShader (a software renderer) for WebGL and
WebGPU. \`npm run demo\` also serves the kernel page (\`/kernels/\`, docs/kernels/; static files after
\`npm run demo -- --build-only\`): the same kernel suite (bench/kernel_suite.ts: every distinct
convolution shape of both archs, upsample+add, concat, softmax, each checked against the naive loops
before it is timed) and the forward pass at each chosen resolution, on every backend the browser
has (gpu.js webgpu, webgl2 and webgl on its GPU, cpu-simd on the threads the page may use, cpu),
within a time budget you set, with live charts. Its JSON download is a run in this page's schema,
the machine as the browser describes it (cores, WebGL renderer, WebGPU adapter), which
\`node dist/bench/report.js that.json --out DIR\` renders like this page (docs/kernels/README.md).
`;

export function renderMarkdown(run: RunResult, source: string, cli?: { result: CliRssResult; source: string }, techniques: { result: TechniquesRun; source: string }[] = []): string {
  const p = run.probe;
  const skipped = [...run.backends, ...run.peers].filter((b) => b.skipped !== undefined);
  const ext = EXTERNAL_REFERENCE;
  // The headline divides by the peers: a run without them (the kernel page's) has no headline.
  const peersTimed = run.e2e.some((r) => r.kind === 'peer');
  return `# Benchmarks

Generated by \`node dist/bench/report.js ${source}\` from ${run.mode === 'page' ? 'a run of the kernel page (docs/kernels/)' : `a \`--${run.mode}\` run`} started ${run.started}
(${run.durationS.toFixed(0)} s). Do not edit by hand: rerun the benchmark and the generator
(README "Benchmarks"). The JSON beside this page's source holds every sample statistic.

## Machine and versions

${table(['', ''], machineRows(run))}

## How to read these tables

- **First call** is the first run of a case after the backend's prepare() (batch-norm folding,
  weight packing or upload, shown apart as *prepare*): kernel compilation, allocations. **Steady state** is the median of the runs after it, with the
  spread (p10 to p90, relative to the median) beside it; a spread over ~20 % means the machine was
  busy. A kernel's time includes reading its output back (that is what forces a GPU to finish).
- **GFLOP/s** counts 2 FLOPs per multiply-accumulate of the convolution's shape (bias, batch norm
  and activation not counted); memory-bound ops report **GB/s** of input read plus output written.
- **Machine peak**: the reference line beside every GFLOP/s figure, measured by the probe
  (bench/probe.ts) on this machine in the same run: a scalar JS loop of 16 independent
  multiply-add chains, and a generated WebAssembly module doing the same on 128-bit SIMD vectors
  (4 lanes, multiply then add, no fused multiply-add). It is what a plain multiply-add loop
  issues, not a hard ceiling: a register-blocked GEMM keeps more independent accumulators busy
  and passes the SIMD line by up to ~1.5x (cpu-simd's pointwise 1x1), and Winograd convolutions
  pass it further because their GFLOP/s counts the direct convolution's MACs while doing ~2.25x
  fewer multiplies. Native peers (onnxruntime-node, PyTorch) use the CPU's wider FMA units
  (AVX2 / AVX-512).
- Every kernel case was checked against the naive CPU loops before it was timed (a subset of
  output channels at all positions for convolutions, everything for the other ops), every end-to-end
  contestant against a reference on a small odd-sized input; a failed check is shown as such and
  not timed. **Skipped** cells say why (not available on this machine or branch, or predicted to
  exceed the run's time budget from the backend's measured rate).
- **Ratios** are ours / peer on the forward pass at the same resolution: below 1, ours is faster.

${p !== undefined ? `## Machine peak (probe)

${table(['probe', '1 thread', `${p.threads} threads`], [
  ['scalar JS multiply-add', `${p.scalarGflops1t.toFixed(2)} GFLOP/s`, `${p.scalarGflopsAll.toFixed(2)} GFLOP/s`],
  ['wasm SIMD f32x4 multiply-add', `${p.simdGflops1t.toFixed(2)} GFLOP/s`, `${p.simdGflopsAll.toFixed(2)} GFLOP/s`],
])}
` : ''}
${peersTimed ? headlineSection(run) : ''}
${peersTimed ? threadSection(run) : ''}
${cli !== undefined ? cliSection(cli.result, cli.source) : ''}
${techniquesSection(techniques)}
${profileSection(run)}
${run.mode === 'page' ? '' : KERNEL_PAGE_SECTION}
## External reference (not measured here)

${ext.label}: ${ext.figuresMs.map((m) => `${m} ms`).join(' / ')} at ${resolutionName(ext.resolution)}. Other hardware and
another runtime: quoted for scale only, not comparable cell by cell with the figures below.

${skipped.length > 0 ? `## Skipped backends and peers

${skipped.map((b) => `- **${b.name}** (${b.description}): ${b.skipped}`).join('\n')}
` : ''}
## End to end

${run.notes.map((n) => `- ${n}`).join('\n')}

${run.e2e.length > 0 ? e2eSection(run) : 'Not part of this run.'}

## Kernels

Rows: every distinct convolution shape of both archs (kind, channels, pyramid level 1/stride of
its input), then the memory-bound ops and the CPU post-processing. Columns: input resolutions.
Cells: steady median ms · rate (first call ms; prepare ms = weight folding, packing or upload, when
over 0.1 ms).

![GFLOP/s per convolution shape against the machine peak](bench/kernels-gflops.svg)

${run.kernels.length > 0 ? kernelSection(run) : 'Not part of this run.'}
`;
}

// ---- SVG charts (svgChart, in chart.ts: the kernel page draws its live charts with it) -------

/** Forward ms vs megapixels, one line per contestant. */
export function e2eChart(run: RunResult, arch: string): string {
  const rows = run.e2e.filter((r) => r.arch === arch && r.skipped === undefined && r.stages.forward !== undefined);
  const series = [...new Set(rows.map((r) => r.contestant))].map((name) => ({
    name, points: rows.filter((r) => r.contestant === name).map((r) => [r.megapixels, r.stages.forward!.medianMs || r.stages.forward!.firstMs] as [number, number]),
  }));
  return svgChart({ title: `${arch}: forward pass, ms vs megapixels (log-log)`, xLabel: 'megapixels', yLabel: 'ms', series });
}

/** GFLOP/s of every convolution shape (x: its MACs) per backend at the most covered resolution, with the probe's peaks. */
export function kernelChart(run: RunResult): string {
  const conv = run.kernels.filter((k) => k.op === 'conv' && k.gflops !== undefined);
  const counts = new Map<string, number>();
  for (const k of conv) counts.set(k.resolution, (counts.get(k.resolution) ?? 0) + 1);
  const res = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
  const at = conv.filter((k) => k.resolution === res);
  const series = [...new Set(at.map((k) => k.backend))].map((b) => ({ name: b, points: at.filter((k) => k.backend === b).map((k) => [k.macs!, k.gflops!] as [number, number]) }));
  const p = run.probe;
  const hlines = p === undefined ? [] : [
    { label: `scalar peak, 1 thread (${p.scalarGflops1t.toFixed(1)})`, y: p.scalarGflops1t },
    { label: `SIMD peak, 1 thread (${p.simdGflops1t.toFixed(1)})`, y: p.simdGflops1t },
    { label: `SIMD peak, ${p.threads} threads (${p.simdGflopsAll.toFixed(1)})`, y: p.simdGflopsAll },
  ];
  return svgChart({ title: `Convolution GFLOP/s per shape at ${res} (x: the shape's MACs)`, xLabel: 'multiply-accumulates of the shape', yLabel: 'GFLOP/s', series, hlines, lines: false });
}

export interface Extras {
  cli?: { result: CliRssResult; source: string };
  techniques?: { result: TechniquesRun; source: string }[];
}

export function writeReport(run: RunResult, source: string, docsDir: string, extras: Extras = {}): string[] {
  mkdirSync(path.join(docsDir, 'bench'), { recursive: true });
  const written: [string, string][] = [[path.join(docsDir, 'benchmarks.md'), renderMarkdown(run, source, extras.cli, extras.techniques)], [path.join(docsDir, 'bench', 'kernels-gflops.svg'), kernelChart(run)]];
  for (const arch of new Set(run.e2e.map((r) => r.arch))) written.push([path.join(docsDir, 'bench', `e2e-${arch}.svg`), e2eChart(run, arch)]);
  for (const [file, text] of written) writeFileSync(file, text);
  return written.map(([f]) => f);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const o = args.indexOf('--out');
  const docs = o >= 0 ? args[o + 1]! : 'docs';
  const source = args.find((a, i) => !a.startsWith('--') && (o < 0 || i !== o + 1)) ?? 'bench/results/published.json';
  const run = parseRun(readFileSync(source, 'utf8'), source);
  // bench/rss.ts's and bench/techniques.ts's results, when written beside the run (cli.json, techniques-ARCH.json).
  const dir = path.dirname(source);
  const read = <T>(file: string) => ({ result: JSON.parse(readFileSync(file, 'utf8')) as T, source: file });
  const cliFile = path.join(dir, 'cli.json');
  const extras: Extras = {
    ...(existsSync(cliFile) ? { cli: read<CliRssResult>(cliFile) } : {}),
    techniques: readdirSync(dir).filter((f) => /^techniques-.+\.json$/.test(f)).sort().map((f) => read<TechniquesRun>(path.join(dir, f))),
  };
  for (const f of writeReport(run, source, docs, extras)) console.log(`wrote ${f}`);
}
