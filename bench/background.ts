// What the process's other threads take while a forward runs (issue #16: the two-thread speed-up).
// Linux only: before and after each forward it reads every thread's CPU time and its time waiting
// for a CPU (/proc/self/task/<tid>/schedstat). Besides the caller and the pool's workers, a Node
// process has V8's platform threads, which compile hot JavaScript with TurboFan and help the
// garbage collector: on a machine with as many cores as the forward has threads, what they run
// is taken from the forward. From the process's first forward on (no warm-up), --passes forwards
// --pause ms apart: the other threads' CPU ms per window of --window forwards, then the forwards
// with and without such activity.
//   node dist/bench/background.js [--arch mobile0.25] [--size 640x640] [--threads 2] [--passes 300] [--pause 3] [--window 30]
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { SEED } from './config.js';
import { archAndSize, option } from './profile_options.js';
import { median, quantile } from './stats.js';

/** A thread's CPU time and time runnable but waiting for a CPU, ms: the first two fields of its schedstat. */
export function parseSchedstat(line: string): { runMs: number; waitMs: number } {
  const [run, wait] = line.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(run) || !Number.isFinite(wait)) throw new Error(`not a schedstat line: ${line.slice(0, 60)}`);
  return { runMs: run! / 1e6, waitMs: wait! / 1e6 };
}

/** One forward: its ms, and each thread's CPU ms and waiting ms over it. */
interface Sample { ms: number; run: Map<string, number>; wait: Map<string, number> }

/** Threads that did not exist at the start count from zero; a thread that ended counts no more. */
function times(): Map<string, { runMs: number; waitMs: number }> {
  const out = new Map<string, { runMs: number; waitMs: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      out.set(tid, parseSchedstat(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8')));
    } catch { /* the thread ended meanwhile */ }
  }
  return out;
}

async function main(): Promise<void> {
  if (process.platform !== 'linux' || !existsSync('/proc/self/task')) throw new Error('needs Linux (/proc/self/task/<tid>/schedstat)');
  const { arch, width, height } = archAndSize('mobile0.25');
  const threads = Number(option('threads', '2')), passes = Number(option('passes', '300'));
  const pause = Number(option('pause', '3')), perWindow = Number(option('window', '30'));
  if (!(threads >= 1) || !(passes >= 1) || !(pause >= 0) || !(perWindow >= 1)) throw new Error('--threads N (>= 1), --passes N (>= 1), --pause MS (>= 0), --window N (>= 1)');
  const model = buildRetinaFace(arch);
  fillRandomWeights(model, SEED);
  const be = new CpuSimdBackend({ threads });
  await be.prepare(model);
  const x = syntheticInput(height, width, SEED + width);
  const samples: Sample[] = [];
  for (let i = 0; i < passes; i++) {
    await sleep(pause);
    const before = times();
    const t0 = performance.now();
    await runNetwork(be, model, x);
    const ms = performance.now() - t0;
    const after = times();
    const run = new Map<string, number>(), wait = new Map<string, number>();
    for (const [tid, a] of after) {
      const b = before.get(tid) ?? { runMs: 0, waitMs: 0 };
      run.set(tid, a.runMs - b.runMs);
      wait.set(tid, a.waitMs - b.waitMs);
    }
    samples.push({ ms, run, wait });
  }
  be.dispose();

  // The caller is the process's main thread; the pool's workers are the threads-1 others that ran most.
  const caller = String(process.pid);
  const total = new Map<string, number>();
  for (const s of samples) for (const [tid, v] of s.run) total.set(tid, (total.get(tid) ?? 0) + v);
  const workers = new Set([...total].filter(([tid]) => tid !== caller).sort((a, b) => b[1] - a[1]).slice(0, threads - 1).map(([tid]) => tid));
  const others = (s: Sample) => [...s.run].filter(([tid]) => tid !== caller && !workers.has(tid)).reduce((sum, [, v]) => sum + v, 0);
  const ours = (s: Sample) => [...s.wait].filter(([tid]) => tid === caller || workers.has(tid)).reduce((sum, [, v]) => sum + v, 0);

  console.log(`${arch} ${width}x${height}, cpu-simd ${threads} thread(s), ${passes} forwards ${pause} ms apart from the process's first, ` +
    'CPU ms of the threads other than the caller and the pool\'s workers (V8\'s compiler and GC helpers) while each forward ran:');
  const windows: string[] = [];
  for (let i = 0; i < samples.length; i += perWindow) {
    const w = samples.slice(i, i + perWindow);
    windows.push(`forwards ${i}-${i + w.length - 1}: ${w.reduce((sum, s) => sum + others(s), 0).toFixed(0)} ms`);
  }
  console.log(`  ${windows.join('; ')}`);
  const BUSY_MS = 0.5;
  const describe = (label: string, group: Sample[]) => group.length === 0 ? `  ${label}: none` :
    `  ${label}: ${group.length}, forward median ${median(group.map((s) => s.ms)).toFixed(1)} ms (quartiles ${quantile(group.map((s) => s.ms), 0.25).toFixed(1)}-${quantile(group.map((s) => s.ms), 0.75).toFixed(1)}), ` +
    `our threads waiting for a CPU ${median(group.map(ours)).toFixed(2)} ms a forward (median)`;
  console.log(describe(`forwards during which the other threads ran over ${BUSY_MS} ms`, samples.filter((s) => others(s) > BUSY_MS)));
  console.log(describe('the rest', samples.filter((s) => others(s) <= BUSY_MS)));
}

if (process.argv[1] !== undefined && process.argv[1].endsWith(`${path.sep}background.js`)) {
  main().then(() => process.exit(0), (e: unknown) => {
    console.error(`bench/background: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
