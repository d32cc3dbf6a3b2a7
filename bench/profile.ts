// Where a forward pass's time goes, module by module and thread by thread (issue #16's per-layer
// profile). The forward runs on cpu-simd with seeded weights; each module report is stamped as it
// completes (src/model/anatomy.ts: the ops since the previous report are the reporting module's
// own), so the first table's rows are the leaves of the module tree with their ops, MACs and
// GFLOP/s. Every other pass also records the thread pool's tasks (simd_pool.ts TaskRecord: when
// each was posted, each thread's share start and end, when the caller saw the last one done); a
// task belongs to the module whose report follows it, as the ops do. The second table splits each
// module's wall time per thread:
//   busy   the thread running its shares (the caller's includes the tasks it runs alone);
//   wait   the caller: from the end of its share to the last one's (the others' imbalance and
//          wake-up); a worker: the rest of the module's wall time, idle between its shares.
// The third splits the whole forward's, per thread, into parts that add up (per pass) to it;
// the caller's part outside the pool is its JavaScript: upsampling, softmax, the input's copy,
// the runner. Every figure is the median over --passes passes after a warm-up, column by column.
// The stamped passes walk the network (their stamps are taps); each iteration also times a pass
// without taps, which replays a recorded one (src/backends/simd_replay.ts) as a caller's pass does.
//   node dist/bench/profile.js [--arch mobile0.25] [--size 640x640] [--threads 2] [--passes 20] [--json FILE]
import { writeFileSync } from 'node:fs';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import type { TaskRecord } from '../src/backends/simd_pool.js';
import { anatomy, attribute, stamper } from '../src/model/anatomy.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { SEED } from './config.js';
import { archAndSize, option } from './profile_options.js';
import type { ProfileRun } from './results.js';
import { median } from './stats.js';

/** Warm-up passes at most before the loop: until one replays (simd_replay.ts). */
const MAX_WARMUP = 10;

/** A dispatch whose longest share is under this is "tiny": its time is mostly the dispatch's own. */
const TINY_SHARE_MS = 0.1;

const { arch, width, height } = archAndSize('mobile0.25');
const threads = Number(option('threads', '2'));
const passes = Number(option('passes', '20'));
const jsonFile = option('json', '');

/** One module's (or the whole forward's) time per thread in one pass, ms. */
interface ThreadSplit {
  wall: number;
  tasks: number;
  /** tasks run by every thread: the pool's sync points */
  dispatches: number;
  busy: number[];
  wait: number[];
}

/** The split of `wall` ms over threads, given the tasks run in it (see the header for busy and wait). */
function split(records: readonly TaskRecord[], wall: number, nThreads: number): ThreadSplit {
  const busy = new Array<number>(nThreads).fill(0), wait = new Array<number>(nThreads).fill(0);
  for (const r of records) {
    r.shares.forEach((s, t) => { if (s !== null) busy[t]! += s[1] - s[0]; });
    if (r.parallel) wait[0]! += r.done - (r.shares[0]?.[1] ?? r.posted);
  }
  for (let t = 1; t < nThreads; t++) wait[t] = wall - busy[t]!;
  return { wall, tasks: records.length, dispatches: records.filter((r) => r.parallel).length, busy, wait };
}

/** Each reporting module's tasks: those done after the previous report and before its own. */
function tasksByModule(stamps: readonly [string, number][], records: readonly TaskRecord[]): Map<string, TaskRecord[]> {
  const out = new Map<string, TaskRecord[]>();
  let i = 0;
  for (const [path, at] of stamps) {
    const mine: TaskRecord[] = [];
    for (; i < records.length && records[i]!.done <= at; i++) mine.push(records[i]!);
    out.set(path, mine);
  }
  if (i < records.length) throw new Error(`${records.length - i} pool tasks ran after the last module report: none should`);
  return out;
}

/**
 * A pass's time per thread, ms, parts that add up to its wall time: busy; from each task's posting
 * to its share's start (the caller: notifying; a worker: waking); after its share until the last
 * one is done (the caller's wait); and the rest: a worker idle between tasks, the caller outside
 * the pool (upsampling, softmax, the input's copy, the runner).
 */
interface ThreadTotals { busy: number; starting: number; afterShare: number; rest: number }

function threadTotals(records: readonly TaskRecord[], wall: number, nThreads: number): ThreadTotals[] {
  const busy = split(records, wall, nThreads).busy;
  return busy.map((b, t) => {
    let starting = 0, afterShare = 0;
    for (const r of records) {
      const s = r.shares[t];
      if (!r.parallel || s === null || s === undefined) continue; // a thread that ran no piece: a worker idle, the caller waiting
      starting += s[0] - r.posted;
      afterShare += r.done - s[1];
    }
    return { busy: b, starting, afterShare, rest: wall - b - starting - afterShare };
  });
}

/** ms the dispatch costs beyond its longest share: posting, waking, and the caller seeing the last one done. */
const overhead = (r: TaskRecord) => r.done - r.posted - Math.max(...r.shares.map((s) => (s === null ? 0 : s[1] - s[0])));


const model = buildRetinaFace(arch);
fillRandomWeights(model, SEED, true);
const be = new CpuSimdBackend({ threads });
await be.prepare(model);
const nThreads = be.threads;
const x = syntheticInput(height, width, SEED + 1);
const shape = await anatomy(model, height, width);
const own = new Map<string, number[]>();
const forwards: number[] = [], profiledForwards: number[] = [], replayedForwards: number[] = [];
const splits = new Map<string, ThreadSplit[]>();
const totals: ThreadSplit[] = [];
const perThread: ThreadTotals[][] = [];
const overheads: number[] = [], tinyOverheads: number[] = [];
// Warm-up passes until one replays: the first at a size makes the nearest maps (not kept), a
// later one is recorded (ResNet-50's arena may take a pass more to settle).
for (let i = 0; i < MAX_WARMUP && be.passes.replayed === 0; i++) await runNetwork(be, model, x);
const replayedBefore = be.passes.replayed;
for (let i = 0; i < passes; i++) {
  // A pass without taps: replayed once recorded (simd_replay.ts), as a caller's pass runs...
  const t0 = performance.now();
  await runNetwork(be, model, x);
  replayedForwards.push(performance.now() - t0);
  // ...then one without the pool's stamps (the first table, and the forward's time)...
  const s = stamper(() => performance.now(), false);
  await runNetwork(be, model, x, s.selection);
  forwards.push(performance.now() - s.start);
  for (const [path, a] of attribute(s.stamps, s.start)) own.set(path, [...(own.get(path) ?? []), a.own]);
  // ...then one with them (the second table).
  const p = stamper(() => performance.now(), false);
  be.startProfile();
  await runNetwork(be, model, x, p.selection);
  const records = be.stopProfile();
  profiledForwards.push(performance.now() - p.start);
  const walls = attribute(p.stamps, p.start);
  for (const [path, mine] of tasksByModule(p.stamps, records)) {
    splits.set(path, [...(splits.get(path) ?? []), split(mine, walls.get(path)!.own, nThreads)]);
  }
  const span = p.stamps[p.stamps.length - 1]![1] - p.start;
  totals.push(split(records, span, nThreads));
  perThread.push(threadTotals(records, span, nThreads));
  for (const r of records.filter((r) => r.parallel)) {
    overheads.push(overhead(r));
    if (Math.max(...r.shares.map((s) => (s === null ? 0 : s[1] - s[0]))) < TINY_SHARE_MS) tinyOverheads.push(overhead(r));
  }
}
const replayed = be.passes.replayed - replayedBefore;
if (replayed !== passes) throw new Error(`${replayed} of the ${passes} passes without taps replayed: all should`);
be.dispose();

/** The median over passes of every number of a split. */
function medianSplit(xs: readonly ThreadSplit[]): ThreadSplit {
  const per = (f: (s: ThreadSplit) => number) => median(xs.map(f));
  return {
    wall: per((s) => s.wall), tasks: per((s) => s.tasks), dispatches: per((s) => s.dispatches),
    busy: Array.from({ length: nThreads }, (_, t) => per((s) => s.busy[t]!)),
    wait: Array.from({ length: nThreads }, (_, t) => per((s) => s.wait[t]!)),
  };
}

const total = median(forwards), profiledTotal = median(profiledForwards), replayedTotal = median(replayedForwards);
// Leaves: modules that own ops (a parent whose children did all the work owns none).
const rows = shape.modules.map((mod) => {
  const mine = mod.ops.filter((o) => !shape.modules.some((c) => c.parent === mod.path && c.ops.includes(o)));
  const macs = mine.reduce((a, o) => a + o.macs, 0);
  return {
    path: mod.path, ops: mine.map((o) => (o.op === 'conv' ? o.kind! : o.op)).join(', '), macs,
    ms: median(own.get(mod.path) ?? [0]), threads: medianSplit(splits.get(mod.path)!),
  };
}).filter((r) => r.ops !== '');
const stamped = rows.reduce((a, r) => a + r.ms, 0);
console.log(`${arch} ${width}x${height}, cpu-simd ${nThreads} thread(s), median of ${passes} passes: forward ${total.toFixed(1)} ms; ` +
  `the modules' medians add up to ${stamped.toFixed(1)} ms, the rest is the input's upload and the outputs' read back (and the medians' spread). ` +
  `These passes walk the network (their stamps are taps); a pass without taps, replayed (simd_replay.ts): ${replayedTotal.toFixed(1)} ms`);
console.log('\n| module | own ops | MMAC | ms | share | GFLOP/s |\n|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| \`${r.path}\` | ${r.ops} | ${(r.macs / 1e6).toFixed(1)} | ${r.ms.toFixed(2)} | ${((100 * r.ms) / total).toFixed(1)} % | ${r.macs > 0 ? ((2 * r.macs) / (r.ms * 1e6)).toFixed(1) : ''} |`);
}

// Per thread: busy and wait per module, then the forward's sums and where the workers' wait goes.
const threadNames = Array.from({ length: nThreads }, (_, t) => (t === 0 ? 'caller' : `worker ${t}`));
const forward = medianSplit(totals);
const ms = (v: number) => v.toFixed(2);
console.log(`\nPer thread, ms, with the pool's stamps on (forward ${profiledTotal.toFixed(1)} ms; ${forward.wall.toFixed(1)} ms from the input to the last module's report). ` +
  'Busy: running its shares; wait: the caller from its share\'s end to the last one\'s, a worker idle between its shares.');
console.log(`| module | tasks (dispatched) | wall ms | ${threadNames.map((n) => `${n} busy | ${n} wait`).join(' | ')} |`);
console.log(`|---|---|---|${threadNames.map(() => '---|---|').join('')}`);
const threadCells = (s: ThreadSplit) => s.busy.map((b, t) => `${ms(b)} | ${ms(s.wait[t]!)}`).join(' | ');
for (const r of rows) console.log(`| \`${r.path}\` | ${r.threads.tasks} (${r.threads.dispatches}) | ${ms(r.threads.wall)} | ${threadCells(r.threads)} |`);
console.log(`| **forward** | ${forward.tasks} (${forward.dispatches}) | ${ms(forward.wall)} | ${threadCells(forward)} |`);

const threadRows = threadNames.map((name, t) => {
  const per = (f: (x: ThreadTotals) => number) => median(perThread.map((p) => f(p[t]!)));
  return { name, busy: per((x) => x.busy), starting: per((x) => x.starting), afterShare: per((x) => x.afterShare), rest: per((x) => x.rest) };
});
console.log('\nThe forward per thread, ms: the parts of each thread\'s wall time (medians per column: they add up only roughly)');
console.log('| thread | busy | posted -> its share starts | after its share, until the last one is done | the rest: a worker idle between tasks, the caller outside the pool |');
console.log('|---|---|---|---|---|');
for (const r of threadRows) console.log(`| ${r.name} | ${ms(r.busy)} | ${ms(r.starting)} | ${ms(r.afterShare)} | ${ms(r.rest)} |`);
const callerWaitShare = forward.wait[0]! / profiledTotal;
const dispatchUs = overheads.length > 0 ? 1000 * median(overheads) : null;
const tinyUs = tinyOverheads.length > 0 ? 1000 * median(tinyOverheads) : null;
console.log(`\n${forward.tasks} pool tasks per forward, ${forward.dispatches} of them dispatched to every thread (sync points), the rest run by the caller alone. ` +
  `The caller waits ${(100 * callerWaitShare).toFixed(1)} % of the forward for the others.` +
  (dispatchUs === null ? '' : ` Dispatch overhead (posted -> last one done, minus the longest share), median: ${dispatchUs.toFixed(0)} us over all dispatches`) +
  (tinyUs === null ? '' : `, ${tinyUs.toFixed(0)} us over the ${(tinyOverheads.length / passes).toFixed(0)} per forward whose longest share is under ${TINY_SHARE_MS} ms`) +
  (dispatchUs === null ? '' : '.'));

if (jsonFile !== '') {
  const out: ProfileRun = {
    arch, width, height, threads: nThreads, passes, forwardMs: total, profiledForwardMs: profiledTotal, replayedForwardMs: replayedTotal,
    modules: rows.map((r) => ({
      path: r.path, ops: r.ops, macs: r.macs, ms: r.ms, tasks: r.threads.tasks, dispatches: r.threads.dispatches,
      profiledMs: r.threads.wall, busyMs: r.threads.busy, waitMs: r.threads.wait,
    })),
    forward: { tasks: forward.tasks, dispatches: forward.dispatches, stampedMs: forward.wall, busyMs: forward.busy, waitMs: forward.wait },
    perThread: threadRows, callerWaitShare, dispatchOverheadUs: dispatchUs, tinyDispatchOverheadUs: tinyUs,
  };
  writeFileSync(jsonFile, `${JSON.stringify(out, null, 1)}\n`);
  console.log(`wrote ${jsonFile}`);
}
