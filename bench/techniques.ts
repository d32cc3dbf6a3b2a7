// What each CPU technique buys on one forward pass (issue 7): the same network, weights and input
// through each step from the reference loops to the fast path, one process.
//   node dist/bench/techniques.js [--arch ARCH] [--res WxH] [--runs N] [--out FILE]
// Each step: two warm-up calls (compilation, arena growth), more for a replaying step until it replays; then N rounds of one call of every step,
// interleaved, each step's figure the median of its N (a first call over 5 s is taken as the one
// sample: the naive loops have nothing to warm up). Interleaved since 2026-12-04: one step after
// the other, a slow spell of this VM made a step look slower than the one before it (Winograd
// 0.92x, the fused blocks 0.91x in two runs). The ratio columns are against the step above and
// the first step.
import { mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Backend } from '../src/backend.js';
import { CpuBackend } from '../src/backends/cpu.js';
import { CpuSimdBackend, PARALLEL_MIN_MACS, WINOGRAD4_MIN_CHANNELS } from '../src/backends/cpu_simd.js';
import { GEMM_K_BLOCK } from '../src/ops/simd/gemm.js';
import { STRASSEN_MIN_CHANNELS } from '../src/ops/simd/strassen.js';
import { PIECES_PER_THREAD, SPIN_MS } from '../src/backends/simd_pool.js';
import { isArch, type Arch } from '../src/model/config.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { SEED } from './config.js';
import { median } from './stats.js';
import { networkMacs } from './shapes.js';

/** Warm-up calls at most for a replaying step to replay. */
const MAX_WARMUP = 10;

/** ms before each timed call: longer than a two-thread step's workers poll after its last task (SPIN_MS). */
const PAUSE_MS = 5;
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';

export interface Technique {
  step: string;
  /** What this step adds to the one above. */
  adds: string;
  create(): Backend<unknown>;
}

export const TECHNIQUES: readonly Technique[] = [
  { step: 'cpu-naive', adds: 'the reference loops: conv, batch norm and activation one op at a time', create: () => new CpuBackend('naive') },
  { step: 'cpu-fast', adds: 'batch norm folded, bias + activation fused, packed JS GEMM, direct depthwise 3x3', create: () => new CpuBackend('fast') },
  { step: 'cpu-simd-1t, no Winograd, no fusion, no FMA', adds: 'WebAssembly SIMD kernels generated at run time (multiply then add), one arena for every activation', create: () => new CpuSimdBackend({ threads: 1, replay: false, winograd: false, fuse: false, fma: false, strassen: false }) },
  { step: 'cpu-simd-1t, F(2x2) only, no fusion, no FMA', adds: 'Winograd F(2x2,3x3) for the dense 3x3 stride-1 convolutions', create: () => new CpuSimdBackend({ threads: 1, replay: false, winogradTile: 2, fuse: false, fma: false, strassen: false }) },
  { step: 'cpu-simd-1t, F(2x2) only, no FMA', adds: 'each depthwise-separable block as one task: a band of rows\' depthwise output stays in cache for the pointwise GEMM; SSH\'s conv3X3 and conv5X5_1, and its conv5X5_2 and conv7X7_2, as one Winograd each; a level\'s three heads as one 1x1; a Bottleneck\'s conv3 with its residual add and ReLU as one GEMM', create: () => new CpuSimdBackend({ threads: 1, replay: false, winogradTile: 2, fma: false, strassen: false }) },
  { step: 'cpu-simd-1t, F(2x2) only', adds: 'relaxed SIMD\'s fused multiply-add (f32x4.relaxed_madd) in the GEMM and depthwise kernels, where the engine has it', create: () => new CpuSimdBackend({ threads: 1, replay: false, winogradTile: 2, strassen: false }) },
  { step: 'cpu-simd-1t, no Strassen', adds: `Winograd F(4x4,3x3) where the input has at least ${WINOGRAD4_MIN_CHANNELS} channels, its products summed by runs of ${GEMM_K_BLOCK}`, create: () => new CpuSimdBackend({ threads: 1, replay: false, strassen: false }) },
  { step: 'cpu-simd-1t', adds: `one level of Strassen (7 half-size products instead of 8) for the other dense convolutions of at least ${STRASSEN_MIN_CHANNELS} output channels and products per output (none of mobile0.25's that run on their own)`, create: () => new CpuSimdBackend({ threads: 1, replay: false }) },
  { step: 'cpu-simd-2t, every conv split, one task a Winograd', adds: `a second thread (worker_threads over shared memory, each thread polling ${SPIN_MS} ms for the next task before it blocks), every convolution split, each task cut into ${PIECES_PER_THREAD} pieces a thread (largest first) that whichever thread is free claims`, create: () => new CpuSimdBackend({ threads: 2, replay: false, parallelMinMacs: 0, twoTaskWinograd: false }) },
  { step: 'cpu-simd-2t, one task a Winograd', adds: `convolutions under ${PARALLEL_MIN_MACS / 1e6} MMAC (PARALLEL_MIN_MACS) run on the calling thread alone (adopted at 0.97 paired, docs/profile.md "The ninth"; since the threads poll, splitting every one pairs at 0.99-0.995 against it, within the noise: its twelfth session)`, create: () => new CpuSimdBackend({ threads: 2, replay: false, twoTaskWinograd: false }) },
  { step: 'cpu-simd-2t, every pass walked', adds: 'a small map\'s Winograd with large weights as two tasks (input transform by channels, then GEMMs by output channels: each weight streamed once, not once per piece; none of mobile0.25\'s)', create: () => new CpuSimdBackend({ threads: 2, replay: false }) },
  { step: 'cpu-simd-2t', adds: 'a recorded pass replayed: the pool\'s tasks as posted and the arena\'s journal, without walking the network (src/backends/simd_replay.ts). Every step here is warm, and the two-thread steps above moved by up to ~15 % from run to run: docs/profile.md, "The thirtieth", has it paired', create: () => new CpuSimdBackend({ threads: 2 }) },
];

export interface TechniqueResult {
  step: string;
  adds: string;
  medianMs: number;
  samples: number;
  gflops: number;
}

export interface TechniquesRun {
  arch: Arch;
  resolution: string;
  /** --runs (default 5): the steady calls per step; absent in files written before it was recorded */
  runs?: number;
  /** warm-up calls per step before the rounds (a replaying step's: more, until one replays); absent in files written with one */
  warmups?: number;
  results: TechniqueResult[];
}

export async function main(argv: readonly string[]): Promise<TechniquesRun> {
  let arch: Arch = 'mobile0.25', width = 640, height = 640, runs = 5, out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const v = () => { const x = argv[++i]; if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`); return x; };
    switch (argv[i]) {
      case '--arch': { const a = v(); if (!isArch(a)) throw new Error(`unknown arch ${a}`); arch = a; break; }
      case '--res': { const m = /^(\d+)x(\d+)$/.exec(v()); if (m === null) throw new Error('--res takes WIDTHxHEIGHT'); [width, height] = [Number(m[1]), Number(m[2])]; break; }
      case '--runs': runs = Number(v()); break;
      case '--out': out = path.resolve(v()); break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of bench/techniques.ts)`);
    }
  }
  const model = buildRetinaFace(arch);
  fillRandomWeights(model, SEED, true);
  const x = syntheticInput(height, width, SEED + width);
  const macs = networkMacs(arch, { width, height });
  // Every step prepared and called once, then `runs` rounds with one call of each step a round
  // (interleaved, so that a slow spell of the host falls on every step alike), PAUSE_MS before
  // each call (a two-thread step's workers poll for SPIN_MS after a task: not into the next call).
  const steps: { t: Technique; be: Backend<unknown>; ms: number[]; slow: boolean }[] = [];
  try {
    for (const t of TECHNIQUES) {
      const be = t.create();
      steps.push({ t, be, ms: [], slow: false });
      await be.prepare(model);
      const t0 = performance.now();
      await runNetwork(be, model, x);
      const first = performance.now() - t0;
      // Where the first call is not its own sample, more warm-up calls: a second (compiled code), and
      // for a replaying step until a pass replays (simd_replay.ts; the first at a size is not kept).
      if (first <= 5000) await runNetwork(be, model, x);
      if (be instanceof CpuSimdBackend) {
        for (let i = 0; i < MAX_WARMUP && be.replay && be.passes.replayed === 0; i++) await runNetwork(be, model, x);
      }
      // Over 5 s a call is its own steady state (the naive loops compile nothing): the first call is the sample.
      if (first > 5000) Object.assign(steps.at(-1)!, { ms: [first], slow: true });
    }
    for (let r = 0; r < runs; r++) {
      for (const s of steps) {
        if (s.slow) continue;
        await sleep(PAUSE_MS);
        const t0 = performance.now();
        await runNetwork(s.be, model, x);
        s.ms.push(performance.now() - t0);
      }
    }
  } finally {
    for (const s of steps) s.be.dispose();
  }
  const results: TechniqueResult[] = [];
  for (const { t, ms } of steps) {
    const medianMs = median(ms);
    results.push({ step: t.step, adds: t.adds, medianMs, samples: ms.length, gflops: (2 * macs) / (medianMs * 1e6) });
    const prev = results.at(-2);
    console.log(`${arch} ${width}x${height} ${t.step.padEnd(26)} ${medianMs.toFixed(1).padStart(9)} ms (n ${ms.length}) ` +
      `${results.at(-1)!.gflops.toFixed(2)} GFLOP/s${prev !== undefined ? `, x${(prev.medianMs / medianMs).toFixed(2)} over ${prev.step}` : ''}`);
  }
  const result: TechniquesRun = { arch, resolution: `${width}x${height}`, runs, warmups: 2, results };
  if (out !== undefined) {
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 1) + '\n');
  }
  return result;
}

if (process.argv[1] !== undefined && process.argv[1].endsWith(`${path.sep}techniques.js`)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`bench/techniques: ${(e as Error).message}`);
    process.exit(1);
  });
}
