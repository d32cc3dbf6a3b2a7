// Where the two threads of a two-thread forward run (issue #16: the two-thread speed-up the
// benchmark's rounds measure). Linux only: after each task the pool dispatches to both threads,
// it reads which CPU the caller and the worker last ran on (/proc/self/task/<tid>/stat), and
// counts the tasks that ended with both on one CPU; a one-thread forward alternates with each
// two-thread one, after the same pause (the benchmark's rounds come back to a contestant after
// ~1.5 s). The reads cost the two-thread forward 40-80 us a task: the output says how much.
// Also prints the kernel's vCPU packing setting where the kernel has one (/proc/sys/kernel/sched_vcpu_pack).
// Before the forwards, the machine's own two-thread speed-up without the network (--probes N, 0
// to skip): rounds alternate, each after the pause, between the caller doing ~10 ms of plain
// arithmetic alone and the caller waking a plain worker blocked in Atomics.wait, then both doing
// that much each at once; how long the worker took to start and on which CPU, each thread's time,
// and two shares' time over one's.
//   node dist/bench/placement.js [--arch mobile0.25] [--size 640x640] [--passes 30] [--pause 1000] [--probes 30]
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import { ThreadPool } from '../src/backends/simd_pool.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { SEED } from './config.js';
import { archAndSize, option } from './profile_options.js';
import { median } from './stats.js';

/**
 * The fields of a /proc/<pid>/task/<tid>/stat line after the command name (which may hold spaces
 * and parentheses: it ends at the line's last ')'): [0] is the state, field N of proc(5) is [N - 3].
 */
function statFields(line: string): string[] {
  const end = line.lastIndexOf(')');
  if (end < 0) throw new Error(`not a /proc stat line: ${line.slice(0, 60)}`);
  return line.slice(end + 2).trim().split(' ');
}

/** The CPU a thread last ran on: field 39 (processor) of its stat line. */
export function cpuOfStat(line: string): number {
  return Number(statFields(line)[39 - 3]);
}

/** The user plus system time (clock ticks) of a stat line: fields 14 and 15. */
export function cpuTicksOfStat(line: string): number {
  const f = statFields(line);
  return Number(f[14 - 3]) + Number(f[15 - 3]);
}

/** One two-thread forward: its ms, its parallel tasks, how many ended with both threads on one CPU. */
export interface PlacedForward { ms: number; tasks: number; together: number }

/** A group of forwards by how many of their tasks ended with both threads on one CPU. */
export interface PlacementGroup { label: string; count: number; medianMs: number | null }

/** A wake this quick (ms) is the futex's and the idle vCPU's own latency; a slower one waited for a CPU. */
const QUICK_WAKE_MS = 0.25;
/** One thread's share in the plain-arithmetic probe, ms alone: about a 640x640 mobile0.25 forward's share of one thread on two. */
const PROBE_SHARE_MS = 10;


/** The forwards in three groups: no task together, some (under half), most (half or more). */
export function groupByPlacement(forwards: readonly PlacedForward[]): PlacementGroup[] {
  const groups: [string, (f: PlacedForward) => boolean][] = [
    ['apart (no task together)', (f) => f.together === 0],
    ['together for under half the tasks', (f) => f.together > 0 && 2 * f.together < f.tasks],
    ['together for half the tasks or more', (f) => f.tasks > 0 && 2 * f.together >= f.tasks],
  ];
  return groups.map(([label, test]) => {
    const ms = forwards.filter(test).map((f) => f.ms);
    return { label, count: ms.length, medianMs: ms.length === 0 ? null : median(ms) };
  });
}

/**
 * One thread's share of plain arithmetic (scalar multiply-adds over a 2 KB array, no memory
 * traffic): `iterations` passes. The same text runs on the caller (by new Function) and in the
 * probe's worker, so both threads run the same code.
 */
const WORK = `
const a = new Float64Array(256).fill(1.0001);
let sink = 0;
function work(iterations) {
  for (let r = 0; r < iterations; r++) for (let i = 0; i < 256; i++) sink += a[i] * a[(i + r) & 255];
  return sink;
}`;

/** The plain worker of twoThreadProbe: CommonJS, run by eval; it reads its CPU by this file's own cpuOfStat (its source, put in). */
const PROBE_WORKER = `
const { workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
${WORK}
const ctrl = new Int32Array(workerData.sab, 0, 4), f = new Float64Array(workerData.sab, 16, 2);
const offset = performance.timeOrigin - workerData.origin;
${statFields.toString()}
${cpuOfStat.toString()}
const cpu = () => cpuOfStat(readFileSync('/proc/thread-self/stat', 'utf8'));
let seen = 0;
Atomics.store(ctrl, 1, -1); Atomics.notify(ctrl, 1);
for (;;) {
  Atomics.wait(ctrl, 0, seen);
  seen = Atomics.load(ctrl, 0);
  if (seen < 0) break;
  f[0] = performance.now() + offset;
  Atomics.store(ctrl, 2, cpu());
  work(Atomics.load(ctrl, 3));
  f[1] = performance.now() + offset;
  Atomics.store(ctrl, 1, seen);
}
if (sink === 42) console.log(sink);
`;

/** One round of twoThreadProbe with both threads: the worker's wake, each thread's time for its share, the whole. */
export interface TwoThreadRound {
  /** ms from the notify to the worker's first instruction */
  wakeMs: number;
  /** whether the worker woke on the CPU the caller was on */
  callersCpu: boolean;
  callerMs: number;
  workerMs: number;
  /** from the notify until both shares were done */
  bothMs: number;
}

/**
 * The machine's own two-thread speed-up, without the network: rounds alternate, each after
 * `pause` ms, between the caller doing one share of plain arithmetic (`shareMs` long alone) alone
 * and the caller waking a blocked worker, then both doing one share each at once.
 */
async function twoThreadProbe(rounds: number, pause: number, shareMs: number, ownCpu: () => number): Promise<{ aloneMs: number[]; both: TwoThreadRound[] }> {
  const work = new Function(`${WORK}\nreturn work;`)() as (iterations: number) => number;
  // Calibrate: the share takes about shareMs alone (the fastest of a few timings of 2000 passes).
  let fastest = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    work(2000);
    fastest = Math.min(fastest, performance.now() - t0);
  }
  const iterations = Math.max(1, Math.round((2000 * shareMs) / fastest));
  const sab = new SharedArrayBuffer(32);
  const ctrl = new Int32Array(sab, 0, 4), f = new Float64Array(sab, 16, 2);
  Atomics.store(ctrl, 3, iterations);
  const w = new Worker(PROBE_WORKER, { eval: true, workerData: { sab, origin: performance.timeOrigin } });
  try {
    const started = performance.now();
    while (Atomics.load(ctrl, 1) !== -1) {
      if (performance.now() - started > 10_000) throw new Error('the probe worker did not start in 10 s');
      await sleep(5);
    }
    const aloneMs: number[] = [], both: TwoThreadRound[] = [];
    for (let r = 1; r <= 2 * rounds; r++) {
      await sleep(pause);
      if (r % 2 === 1) {
        const t0 = performance.now();
        work(iterations);
        aloneMs.push(performance.now() - t0);
        continue;
      }
      const mine = ownCpu();
      const t0 = performance.now();
      Atomics.store(ctrl, 0, r);
      Atomics.notify(ctrl, 0);
      work(iterations);
      const callerEnd = performance.now();
      while (Atomics.load(ctrl, 1) !== r) { /* the worker's share */ }
      both.push({ wakeMs: f[0]! - t0, callersCpu: Atomics.load(ctrl, 2) === mine, callerMs: callerEnd - t0, workerMs: f[1]! - f[0]!, bothMs: Math.max(callerEnd, f[1]!) - t0 });
    }
    Atomics.store(ctrl, 0, -1);
    Atomics.notify(ctrl, 0);
    return { aloneMs, both };
  } finally {
    await w.terminate();
  }
}

/** Lines on twoThreadProbe's rounds: the wakes (how many within `quickMs`, the rest's range and median, how many on the caller's CPU), then the speed-up. */
export function describeTwoThreads(aloneMs: readonly number[], both: readonly TwoThreadRound[], quickMs: number): string[] {
  const quick = both.filter((b) => b.wakeMs <= quickMs), slow = both.filter((b) => b.wakeMs > quickMs).map((b) => b.wakeMs);
  const slowPart = slow.length === 0 ? '' : `, ${slow.length} in ${Math.min(...slow).toFixed(2)}-${Math.max(...slow).toFixed(2)} ms (median ${median(slow).toFixed(2)})`;
  const alone = median(aloneMs), whole = median(both.map((b) => b.bothMs));
  return [
    `the worker's wake: ${quick.length} of ${both.length} started within ${quickMs} ms${slowPart}; ${both.filter((b) => b.callersCpu).length} of ${both.length} woke on the caller's CPU`,
    `one share alone ${alone.toFixed(2)} ms; two shares at once: the caller's ${median(both.map((b) => b.callerMs)).toFixed(2)} ms, the worker's ${median(both.map((b) => b.workerMs)).toFixed(2)} ms from its wake, ` +
      `both done ${whole.toFixed(2)} ms after the notify: a two-thread speed-up of ${((2 * alone) / whole).toFixed(2)}x (medians)`,
  ];
}

async function main(): Promise<void> {
  if (process.platform !== 'linux' || !existsSync('/proc/self/task')) throw new Error('needs Linux (/proc/self/task)');
  const { arch, width, height } = archAndSize('mobile0.25');
  const passes = Number(option('passes', '30'));
  const pause = Number(option('pause', '1000'));
  const probeRounds = Number(option('probes', '30'));
  if (!(passes >= 1) || !(pause >= 0) || !(probeRounds >= 0)) throw new Error('--passes N (>= 1), --pause MS (>= 0), --probes N (>= 0)');
  const selfCpu = () => cpuOfStat(readFileSync('/proc/thread-self/stat', 'utf8'));
  const probe = probeRounds > 0 ? await twoThreadProbe(probeRounds, pause, PROBE_SHARE_MS, selfCpu) : null;
  const model = buildRetinaFace(arch);
  fillRandomWeights(model, SEED);
  const two = new CpuSimdBackend({ threads: 2 });
  await two.prepare(model);
  if (two.threads !== 2) throw new Error(`cpu-simd started ${two.threads} thread(s), not 2 (SharedArrayBuffer or worker threads missing?)`);
  const one = new CpuSimdBackend({ threads: 1 });
  await one.prepare(model);
  const x = syntheticInput(height, width, SEED + width);

  const stat = (tid: string) => readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const main = String(process.pid);
  const ticks = () => new Map(readdirSync('/proc/self/task').map((t) => [t, cpuTicksOfStat(stat(t))]));
  // The pool's worker: of the threads besides the caller, the one whose CPU time grows most over
  // a few two-thread forwards (V8's and libuv's threads do next to nothing meanwhile).
  const before = ticks();
  for (let i = 0; i < 5; i++) { await runNetwork(two, model, x); await runNetwork(one, model, x); }
  const grown = [...ticks()].filter(([t]) => t !== main).map(([t, v]) => [t, v - (before.get(t) ?? 0)] as const).sort((a, b) => b[1] - a[1]);
  const worker = grown[0]?.[0];
  if (worker === undefined || grown[0]![1] === 0) throw new Error('found no worker thread that ran the forwards');

  let log: [number, number][] | null = null;
  let readMs = 0;
  const run = ThreadPool.prototype.run;
  ThreadPool.prototype.run = function (this: ThreadPool, ...args: Parameters<ThreadPool['run']>) {
    run.apply(this, args);
    if (log !== null && this.threads === 2 && args[2] !== false) {
      const t0 = performance.now();
      log.push([cpuOfStat(stat(main)), cpuOfStat(stat(worker))]);
      readMs += performance.now() - t0;
    }
  } as ThreadPool['run'];

  const forwards: PlacedForward[] = [], oneMs: number[] = [];
  for (let i = 0; i < passes; i++) {
    for (const side of i % 2 === 0 ? ['two', 'one'] : ['one', 'two']) {
      await sleep(pause);
      if (side === 'one') {
        const t0 = performance.now();
        await runNetwork(one, model, x);
        oneMs.push(performance.now() - t0);
      } else {
        log = [];
        const t0 = performance.now();
        await runNetwork(two, model, x);
        const ms = performance.now() - t0;
        forwards.push({ ms, tasks: log.length, together: log.filter(([a, b]) => a === b).length });
        log = null;
      }
    }
  }
  ThreadPool.prototype.run = run;
  two.dispose();
  one.dispose();

  const pack = '/proc/sys/kernel/sched_vcpu_pack';
  const packing = existsSync(pack) ? `kernel.sched_vcpu_pack = ${readFileSync(pack, 'utf8').trim()}` : 'no kernel.sched_vcpu_pack here';
  if (probe !== null) {
    console.log(`plain arithmetic, ${probe.aloneMs.length} rounds on one thread and ${probe.both.length} on two alternating, ${pause} ms before each:`);
    for (const line of describeTwoThreads(probe.aloneMs, probe.both, QUICK_WAKE_MS)) console.log(`  ${line}`);
  }
  console.log(`${arch} ${width}x${height}, cpu-simd, ${passes} two-thread forwards and ${passes} one-thread ones alternating, ${pause} ms before each; ${packing}`);
  console.log(`one-thread forward: median ${median(oneMs).toFixed(1)} ms; two-thread forward: median ${median(forwards.map((f) => f.ms)).toFixed(1)} ms, ` +
    `of which reading the threads' CPUs ${(readMs / passes).toFixed(2)} ms a forward`);
  console.log('\n| two-thread forwards, by their tasks that ended with both threads on one CPU | forwards | median ms |\n|---|---|---|');
  for (const g of groupByPlacement(forwards)) console.log(`| ${g.label} | ${g.count} | ${g.medianMs === null ? '' : g.medianMs.toFixed(1)} |`);
  console.log(`\neach two-thread forward, ms (tasks together / tasks): ${forwards.map((f) => `${f.ms.toFixed(1)} (${f.together}/${f.tasks})`).join(', ')}`);
}

if (process.argv[1] !== undefined && process.argv[1].endsWith(`${path.sep}placement.js`)) {
  main().then(() => process.exit(0), (e: unknown) => {
    console.error(`bench/placement: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
