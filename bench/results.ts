// The shape of a run's JSON (bench/results/*.json, .cache/bench/*.json): machine, versions,
// thread counts and every figure, which bench/report.ts turns into docs/benchmarks.md.
import type { Check as HarnessCheck } from '../src/harness/compare.js';
import type { Timing } from './stats.js';

/** A check against the naive loops as the JSON records it: the harness's Check (src/harness/compare.ts) without its excess. */
export type Check = Omit<HarnessCheck, 'excess'>;
export const recordCheck = ({ excess: _excess, ...c }: HarnessCheck): Check => c;

/** 2: kernel cells skipped before they ran are written as tuples (serializeRun). */
export const SCHEMA_VERSION = 2;

export interface KernelResult {
  /** Row of the kernel table, e.g. 'dense 3x3/1 64->64 @1/8' or 'softmax (A, 2)'. */
  id: string;
  op: 'conv' | 'upsample+add' | 'cat' | 'softmax' | 'priors' | 'decode' | 'nms';
  resolution: string;
  backend: string;
  /** Absent on a cell skipped before it ran (see serializeRun). */
  inShape?: number[];
  /** Multiply-accumulates (convolutions) or bytes read + written (the others). */
  macs?: number;
  bytes?: number;
  check?: Check;
  /** backend.prepare() of the case's layer: batch-norm folding, weight packing or upload. */
  prepareMs?: number;
  /** firstMs: the first op + read back (kernel compilation happens here); then the steady state. */
  timing?: Timing;
  gflops?: number;
  gbps?: number;
  skipped?: string;
}

export type Stage = 'decode' | 'preprocess' | 'forward' | 'postprocess' | 'total';
export const STAGES: readonly Stage[] = ['decode', 'preprocess', 'forward', 'postprocess', 'total'];

export interface E2EResult {
  arch: string;
  resolution: string;
  megapixels: number;
  contestant: string;
  kind: 'ours' | 'peer';
  threads: number;
  stages: Partial<Record<Stage, Timing>>;
  /**
   * The steady forward samples in round order: in one cell every timed contestant ran once a
   * round, so sample i of two contestants were taken seconds apart (the report's paired ratios).
   * Absent in runs recorded before 2026-12-04's sixth session.
   */
  forwardRounds?: number[];
  /**
   * Per round, as forwardRounds: the same forward run once more right after the timed one, before
   * the postprocess (its threads still awake, as in a stream of frames; the timed one comes after
   * SETTLE_MS and the other contestants' passes, its threads at rest). Absent before 2026-12-05's
   * tenth session.
   */
  forwardAgainRounds?: number[];
  /**
   * Untimed passes this contestant ran after its first call and before the timed rounds (the
   * budget's warmup: V8 optimizes the JS of a pass over its first calls, on background threads
   * that take a core from a two-thread forward). Absent before 2026-12-05's thirteenth session.
   */
  warmupPasses?: number;
  /** Stages this contestant does not have (a peer has no decode) or that are not on this branch. */
  missingStages?: string;
  macs: number;
  peakRssMB?: number;
  liveObjects?: number;
  check?: Check;
  skipped?: string;
}

export interface Participant {
  name: string;
  description: string;
  threads: number;
  skipped?: string;
}

export interface ProbeResult {
  scalarGflops1t: number;
  simdGflops1t: number;
  scalarGflopsAll: number;
  simdGflopsAll: number;
  threads: number;
}

/**
 * What a run was measured on: from the OS in Node (bench/run.ts); on the kernel page
 * (docs/kernels/) from what the browser reports, which has no CPU model, host name or exact memory
 * but names the GPU.
 */
export interface Machine {
  cpu: string;
  /** logical cores (a page: navigator.hardwareConcurrency) */
  cores: number;
  /** a page: navigator.deviceMemory (coarse: a power of two, capped by the browser), absent where the browser does not tell */
  memoryGB?: number;
  os: string;
  /** sha256 of the host name, 8 hex digits: Node only */
  hostHash?: string;
  /** the kernel page: navigator.userAgent */
  browser?: string;
  /** the kernel page: the WebGL renderer (WEBGL_debug_renderer_info's unmasked one where the browser gives it) */
  webgl?: string;
  /** the kernel page: the WebGPU adapter's info (vendor, architecture, device, description) */
  webgpu?: string;
}

/** bench/profile.ts's --json: one forward's time per module and per thread (cpu-simd, seeded weights). */
export interface ProfileRun {
  arch: string; width: number; height: number; threads: number; passes: number;
  /** median forward without the pool's stamps, and with them */
  forwardMs: number; profiledForwardMs: number;
  /**
   * median forward without taps: a recorded pass replayed (src/backends/simd_replay.ts), as every
   * caller's pass runs; the stamped passes walk the network (their taps need the walk). Absent in
   * runs before the replay.
   */
  replayedForwardMs?: number;
  modules: {
    path: string; ops: string; macs: number;
    /** median ms of the module's own ops (unprofiled passes) */
    ms: number;
    tasks: number; dispatches: number;
    /** wall, and per thread (0 = the caller) busy and waiting, medians of the profiled passes */
    profiledMs: number; busyMs: number[]; waitMs: number[];
  }[];
  forward: { tasks: number; dispatches: number; stampedMs: number; busyMs: number[]; waitMs: number[] };
  perThread: { name: string; busy: number; starting: number; afterShare: number; rest: number }[];
  callerWaitShare: number; dispatchOverheadUs: number | null; tinyDispatchOverheadUs: number | null;
}

export interface RunResult {
  schema: number;
  /** 'page': the kernel page (docs/kernels/), with its own time budget */
  mode: 'quick' | 'full' | 'page';
  started: string;
  durationS: number;
  command: string;
  machine: Machine;
  versions: Record<string, string>;
  probe?: ProbeResult;
  backends: Participant[];
  peers: Participant[];
  kernels: KernelResult[];
  e2e: E2EResult[];
  /** the per-layer, per-thread profile (section 'profile': bench/profile.ts on mobile0.25 at 640x640, 2 threads) */
  profile?: ProfileRun;
  notes: string[];
}

/** A kernel cell skipped before it ran, as written: [id, op, resolution, backend, index into skipReasons]. */
type NotRunCell = [string, KernelResult['op'], string, string, number];

/**
 * The run as the JSON file it is written to: one line, every fraction to 5 significant digits
 * (far below the run's own noise), and a kernel cell skipped before it ran (no check) written as
 * a tuple [id, op, resolution, backend, reason index] with its reason once in `skipReasons`: its
 * shape and MACs are those of the same row's timed cells. A full run has ~5000 kernel cells, most
 * of them skipped on the slow backends; the file stays under 1 MiB. parseRun reads it back.
 */
export function serializeRun(run: RunResult): string {
  const reasons: string[] = [];
  const index = new Map<string, number>();
  const slim = {
    ...run,
    schema: SCHEMA_VERSION,
    skipReasons: reasons,
    kernels: run.kernels.map((k): KernelResult | NotRunCell => {
      if (k.skipped === undefined || k.check !== undefined) return k;
      let i = index.get(k.skipped);
      if (i === undefined) { i = reasons.push(k.skipped) - 1; index.set(k.skipped, i); }
      return [k.id, k.op, k.resolution, k.backend, i];
    }),
  };
  return JSON.stringify(slim, (_key, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(5)) : v)) + '\n';
}

/** A run's JSON as written by serializeRun (schema 2) or before it (schema 1, every cell an object). */
export function parseRun(text: string, file = 'run JSON'): RunResult {
  const raw = JSON.parse(text) as Omit<RunResult, 'kernels'> & { kernels?: (KernelResult | NotRunCell)[]; skipReasons?: string[] };
  if (raw === null || typeof raw !== 'object' || !Array.isArray(raw.kernels) || !Array.isArray(raw.e2e)) {
    throw new Error(`${file}: not a benchmark run (no kernels and e2e arrays)`);
  }
  if (raw.schema !== 1 && raw.schema !== SCHEMA_VERSION) throw new Error(`${file}: schema ${String(raw.schema)}, this report reads 1 and ${SCHEMA_VERSION}`);
  const reasons = raw.skipReasons ?? [];
  const { skipReasons: _, ...rest } = raw;
  return {
    ...rest,
    kernels: raw.kernels.map((k) => (Array.isArray(k)
      ? { id: k[0], op: k[1], resolution: k[2], backend: k[3], skipped: reasons[k[4]] ?? `${file}: no skip reason ${k[4]}` } : k)),
  };
}
