// Where the two threads of a two-thread forward run (issue #16: the two-thread speed-up the
// benchmark's rounds measure). Linux only: after each task the pool dispatches to both threads,
// it reads which CPU the caller and the worker last ran on (/proc/self/task/<tid>/stat), and
// counts the tasks that ended with both on one CPU; a one-thread forward alternates with each
// two-thread one, after the same pause (the benchmark's rounds come back to a contestant after
// ~1.5 s). The reads cost the two-thread forward ~30 us a task: the output says how much.
// Also prints the kernel's vCPU packing setting where the kernel has one (/proc/sys/kernel/sched_vcpu_pack).
// Before the forwards, the same question without the network (--wakes N, 0 to skip): a plain
// worker thread blocked in Atomics.wait is woken after the pause while the caller spins (as the
// caller runs its share of a task), and works ~2 ms; how long it took to start, and on which CPU.
//   node dist/bench/placement.js [--arch mobile0.25] [--size 640x640] [--passes 30] [--pause 1000] [--wakes 40]
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

const median = (xs: readonly number[]) => (xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[xs.length >> 1]!);

/** The forwards in three groups: no task together, some (under half), most (half or more). */
export function groupByPlacement(forwards: readonly PlacedForward[]): PlacementGroup[] {
  const groups: [string, (f: PlacedForward) => boolean][] = [
    ['apart (no task together)', (f) => f.together === 0],
    ['together for under half the tasks', (f) => f.together > 0 && 2 * f.together < f.tasks],
    ['together for half the tasks or more', (f) => f.tasks > 0 && 2 * f.together >= f.tasks],
  ];
  return groups.map(([label, test]) => {
    const ms = forwards.filter(test).map((f) => f.ms);
    return { label, count: ms.length, medianMs: median(ms) };
  });
}

/** The plain worker of wakeProbe: CommonJS, run by eval. */
const PROBE_WORKER = `
const { workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const ctrl = new Int32Array(workerData.sab, 0, 4), f = new Float64Array(workerData.sab, 16, 1);
const offset = performance.timeOrigin - workerData.origin;
const cpu = () => { const s = readFileSync('/proc/thread-self/stat', 'utf8'); return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[36]); };
const a = new Float64Array(256).fill(1.0001);
let seen = 0, sink = 0;
Atomics.store(ctrl, 1, -1); Atomics.notify(ctrl, 1);
for (;;) {
  Atomics.wait(ctrl, 0, seen);
  seen = Atomics.load(ctrl, 0);
  if (seen < 0) break;
  f[0] = performance.now() + offset;
  Atomics.store(ctrl, 2, cpu());
  const end = performance.now() + 2;
  while (performance.now() < end) for (let i = 0; i < 256; i++) sink += a[i] * a[(i + 7) & 255];
  Atomics.store(ctrl, 1, seen);
}
if (sink === 42) console.log(sink);
`;

/** One wake of wakeProbe: ms from the notify to the worker's first instruction, and whether it woke on the caller's CPU. */
export interface Wake { ms: number; callersCpu: boolean }

/** Wakes a plain blocked worker `rounds` times, each after `pause` ms, the caller spinning meanwhile. */
async function wakeProbe(rounds: number, pause: number, ownCpu: () => number): Promise<Wake[]> {
  const sab = new SharedArrayBuffer(32);
  const ctrl = new Int32Array(sab, 0, 4), f = new Float64Array(sab, 16, 1);
  const w = new Worker(PROBE_WORKER, { eval: true, workerData: { sab, origin: performance.timeOrigin } });
  try {
    const started = performance.now();
    while (Atomics.load(ctrl, 1) !== -1) {
      if (performance.now() - started > 10_000) throw new Error('the probe worker did not start in 10 s');
      await sleep(5);
    }
    const wakes: Wake[] = [];
    for (let r = 1; r <= rounds; r++) {
      await sleep(pause);
      const mine = ownCpu();
      const t0 = performance.now();
      Atomics.store(ctrl, 0, r);
      Atomics.notify(ctrl, 0);
      while (Atomics.load(ctrl, 1) !== r) { /* the caller's share: busy */ }
      wakes.push({ ms: f[0]! - t0, callersCpu: Atomics.load(ctrl, 2) === mine });
    }
    Atomics.store(ctrl, 0, -1);
    Atomics.notify(ctrl, 0);
    return wakes;
  } finally {
    await w.terminate();
  }
}

/** A line on wakeProbe's wakes: how many started within `quickMs`, the rest's median, how many on the caller's CPU. */
export function describeWakes(wakes: readonly Wake[], quickMs: number): string {
  const quick = wakes.filter((w) => w.ms <= quickMs), slow = wakes.filter((w) => w.ms > quickMs);
  const slowPart = slow.length === 0 ? '' : `, ${slow.length} in ${Math.min(...slow.map((w) => w.ms)).toFixed(2)}-${Math.max(...slow.map((w) => w.ms)).toFixed(2)} ms (median ${median(slow.map((w) => w.ms))!.toFixed(2)})`;
  return `${quick.length} of ${wakes.length} started within ${quickMs} ms${slowPart}; ${wakes.filter((w) => w.callersCpu).length} of ${wakes.length} woke on the caller's CPU`;
}

async function main(): Promise<void> {
  if (process.platform !== 'linux' || !existsSync('/proc/self/task')) throw new Error('needs Linux (/proc/self/task)');
  const { arch, width, height } = archAndSize('mobile0.25');
  const passes = Number(option('passes', '30'));
  const pause = Number(option('pause', '1000'));
  const wakeRounds = Number(option('wakes', '40'));
  if (!(passes >= 1) || !(pause >= 0) || !(wakeRounds >= 0)) throw new Error('--passes N (>= 1), --pause MS (>= 0), --wakes N (>= 0)');
  const selfCpu = () => cpuOfStat(readFileSync('/proc/thread-self/stat', 'utf8'));
  const wakes = wakeRounds > 0 ? await wakeProbe(wakeRounds, pause, selfCpu) : [];
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
  if (wakes.length > 0) console.log(`a plain worker woken ${wakes.length} times, ${pause} ms apart, the caller busy meanwhile: ${describeWakes(wakes, QUICK_WAKE_MS)}`);
  console.log(`${arch} ${width}x${height}, cpu-simd, ${passes} two-thread forwards and ${passes} one-thread ones alternating, ${pause} ms before each; ${packing}`);
  console.log(`one-thread forward: median ${median(oneMs)!.toFixed(1)} ms; two-thread forward: median ${median(forwards.map((f) => f.ms))!.toFixed(1)} ms, ` +
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
