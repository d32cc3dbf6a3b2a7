// The worker threads of the 'cpu-simd' backend, environment-neutral: every thread (the caller
// and N - 1 workers) instantiates the same kernel module over the same shared WebAssembly.Memory,
// and a task is one kernel call split by thread index (TASKS below; each thread's part is in
// src/ops/simd/, e.g. dense.ts denseConvPart). Tasks are posted through a small
// SharedArrayBuffer, not messages: the caller writes the task and its arguments, bumps a
// generation counter and notifies; each worker runs its share and decrements a pending counter;
// the caller runs share 0 and waits for zero.
// Backend ops are synchronous, so the caller blocks (Atomics.wait in Node; a browser's main
// thread may not block and spins instead). Spinning a few microseconds before blocking was tried:
// with the cores shared by other jobs it made a dispatch 3x slower (157 vs 52 us), so it is out.
// Tried again with a 50 us bound on both sides (issue #16, paired forwards of mobile0.25 640x640 on
// 2 threads): 0.979 of the time without it on an idle host (interquartile 0.93-1.04), 1.036
// (1.01-1.13) with one core taken by another process: no gain worth the risk.
//
// Profiling (issue #16: where each thread's time goes): off by default, and then the pool's only
// cost is a check of one number per task. startProfile() makes every task record, in a second
// SharedArrayBuffer the workers were handed at start, when it was posted, when each thread began
// and ended its share and when the caller saw the last one finish; stopProfile() reads them back
// (no messages: a worker blocked in Atomics.wait does not read its port). All stamps are on the
// caller's performance.now() clock: a worker adds the difference of the two timeOrigins.
//
// How a worker is started (Node worker_threads, browser Web Workers) is the host's business:
// simd_host.node.ts and simd_host.browser.ts; the workers' entries are simd_worker.node.ts and simd_worker.ts.
import type { SimdExports } from '../ops/simd/common.js';
import { denseConvPart, type DenseConvArgs } from '../ops/simd/dense.js';
import { depthwisePart, type DepthwiseArgs } from '../ops/simd/depthwise.js';
import { dwPwPart, type DwPwArgs } from '../ops/simd/dwpw.js';
import { elementwisePart, headPermutePart, nearestPart, type ElementwiseArgs, type PermuteArgs } from '../ops/simd/elementwise.js';
import { maxPool2dPart } from '../ops/simd/max_pool2d.js';
import { instantiateSimd } from '../ops/simd/module.js';
import { winogradPart, type WinogradArgs } from '../ops/simd/winograd.js';

/** Int32 slots of the control buffer; float64 arguments follow at ARGS_BYTE. */
const SLOT = { generation: 0, pending: 1, task: 2, failed: 3, record: 4 } as const;
const ARGS_BYTE = 64;
const MAX_ARGS = 32;
export const CONTROL_BYTES = ARGS_BYTE + 8 * MAX_ARGS;

/**
 * Tasks one profile can hold (startProfile to stopProfile): a forward runs 102 on mobile0.25 and
 * 157 on ResNet-50, at any input size. The buffer takes PROFILE_TASKS * (2 threads + 2) float64s
 * (24 KB with 2 threads); a profile that runs past it says so in stopProfile().
 */
export const PROFILE_TASKS = 512;

/** The task number that tells the workers to return. */
const EXIT = 0;

/**
 * A task of the pool: one kernel call split by thread index. `id` is the number the control
 * buffer carries, `keys` the order of its arguments there (a float64 each), `run` thread t's part
 * with its arguments read back from there (on the caller too, so one thread runs what N run).
 */
export interface Task<A> {
  readonly id: number;
  readonly keys: readonly (keyof A)[];
  readonly run: (k: SimdExports, args: Float64Array, t: number, nThreads: number) => void;
}

/** The keys K when they list every key of A; else a type naming the keys left out (a compile error). */
type EveryKey<A, K extends readonly (keyof A)[]> =
  [Exclude<keyof A, K[number]>] extends [never] ? K : { missing: Exclude<keyof A, K[number]> };

function decode<A>(keys: readonly (keyof A)[], src: Float64Array): A {
  const out = {} as Record<keyof A, number>;
  keys.forEach((k, i) => { out[k] = src[i]!; });
  return out as A;
}

function task<A extends Record<keyof A, number>, const K extends readonly (keyof A)[]>(
  id: number, part: (k: SimdExports, a: A, t: number, nThreads: number) => void, keys: EveryKey<A, K>,
): Task<A> {
  const order = keys as K; // EveryKey<A, K> is K wherever this compiles
  return { id, keys: order, run: (k, args, t, nThreads) => part(k, decode<A>(order, args), t, nThreads) };
}

const WINOGRAD_KEYS = [
  'x', 'cIn', 'h', 'w', 'cOut', 'y', 'weights', 'zeros', 'bias', 'slope', 'hasSlope',
  'cOut1', 'y2', 'bias2', 'slope2', 'hasSlope2', 'scratch', 'scratchBytes',
] as const;

/** Every task the threads run, each spelled once: its number (distinct, not EXIT), its arguments' order, its part. */
export const TASKS = {
  dense: task(1, denseConvPart, [
    'x', 'cIn', 'h', 'w', 'kSize', 'stride', 'pad', 'hOut', 'wOut', 'weights', 'bias', 'cOut', 'y', 'slope', 'hasSlope', 'scratch', 'scratchBytes',
  ]),
  depthwise: task(2, depthwisePart, [
    'x', 'c', 'h', 'w', 'stride', 'hOut', 'wOut', 'weights', 'bias', 'y', 'slope', 'hasSlope', 'scratch', 'scratchBytes',
  ]),
  elementwise: task(3, elementwisePart, ['a', 'b', 'y', 'n', 'slope', 'hasSlope']),
  headPermute: task(4, headPermutePart, ['x', 'y', 'c', 'hw']),
  winograd: task(6, winogradPart, WINOGRAD_KEYS),
  dwPw: task(7, dwPwPart, [
    'x', 'c', 'h', 'w', 'stride', 'hOut', 'wOut', 'dwWeights', 'dwBias', 'dwSlope', 'dwHasSlope',
    'pwWeights', 'pwBias', 'cOut', 'y', 'slope', 'hasSlope', 'bandRows', 'scratch', 'scratchBytes',
  ]),
  nearest: task(8, nearestPart, ['x', 'c', 'h', 'w', 'y', 'hOut', 'wOut', 'rows', 'cols']),
  maxPool2d: task(9, maxPool2dPart, ['x', 'c', 'h', 'w', 'y', 'hOut', 'wOut']),
};

/** A worker's lookup of the number in the control buffer. */
const TASK_BY_ID = new Map(Object.values(TASKS).map((t) => [t.id, t]));

/** The name of each task number: its key in TASKS. */
const TASK_NAME = new Map(Object.entries(TASKS).map(([name, t]) => [t.id, name]));

/**
 * One task as profiled, in ms on the caller's performance.now() clock. A task run on the caller
 * alone (parallel = false, or a one-thread pool) has one share and done = its end.
 */
export interface TaskRecord {
  /** its key in TASKS */
  name: string;
  id: number;
  parallel: boolean;
  /** when the caller began posting it (its own share's start when it runs alone) */
  posted: number;
  /** [start, end] of each thread's share, thread 0 the caller's */
  shares: [number, number][];
  /** when the caller saw every share finished */
  done: number;
}

/**
 * Where a record's stamps sit in the profile buffer (float64 offsets from the record's start):
 * posted, done, then [start, end] per thread.
 */
const STAMP = { posted: 0, done: 1, shares: 2 } as const;
const recordFloats = (nThreads: number) => STAMP.shares + 2 * nThreads;

/** What a started worker receives first. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  /** the profile's stamps (PROFILE_TASKS records), written only while a profile runs */
  stamps: SharedArrayBuffer;
  /** the caller's performance.timeOrigin: a worker's stamps are put on the caller's clock */
  timeOrigin: number;
  index: number;
  nThreads: number;
}

/** The host's handle on a worker: enough to hand it WorkerInit, hear 'ready' or an error, stop it. */
export interface WorkerHandle {
  post(init: WorkerInit): void;
  /** Resolves on the worker's first message ('ready'), rejects on its error. */
  ready(): Promise<void>;
  terminate(): void;
}

export interface ThreadHost {
  /** Threads to use by default: the machine's parallelism (1 where workers cannot share memory). */
  defaultThreads(): number;
  spawn(): WorkerHandle;
  /** Whether this thread may block in Atomics.wait (a browser's main thread may not). */
  canBlock: boolean;
  /**
   * Makes relaxed SIMD available where the engine has it behind a flag (Node 20's V8:
   * --experimental-wasm-relaxed-simd); says whether it is available now.
   */
  relaxedSimd?(): boolean;
}

/**
 * How long (ms) a worker polls for the next task, and the caller for the workers' shares, before
 * blocking in Atomics.wait. A thread that blocks between a forward's tasks is woken by a futex,
 * and on a VM its idle vCPU by the hypervisor: ~50 us a dispatch, paid 35 times a forward
 * (mobile0.25, 640x640, 2 threads), more after the vCPU has idled a while. Polling takes a core
 * another process may want: so a thread that finds itself descheduled while polling (a gap of
 * PREEMPTED_MS between two clock reads) stops polling for BACKOFF_MS. Paired on this 2-core VM
 * (docs/profile.md, "The twelfth"): idle 0.911, one core busy elsewhere 1.126 (a plain 1 ms poll:
 * 2.135). Between frames the threads block and take no CPU.
 */
export const SPIN_MS = 1;

/**
 * A gap this long (ms) between two of spinWhile's clock reads (256 loads apart, well under a
 * microsecond) means the thread was descheduled while polling: another process wants this core.
 */
const PREEMPTED_MS = 0.05;
/** After a preemption, a thread blocks at once for this long (ms): polling would take the core from the other process, and the other process would then take it from our next share. */
const BACKOFF_MS = 100;
/** Per thread (module state: one copy per worker): until when polling is off. */
let backoffUntil = 0;

/** Polls `slot` until it differs from `value` or SPIN_MS pass; true if it changed. */
function spinWhile(ctrl: Int32Array, slot: number, value: number): boolean {
  let now = performance.now();
  if (now < backoffUntil) return false;
  const end = now + SPIN_MS;
  for (;;) {
    for (let i = 0; i < 256; i++) if (Atomics.load(ctrl, slot) !== value) return true;
    const t = performance.now();
    if (t - now > PREEMPTED_MS) {
      backoffUntil = t + BACKOFF_MS;
      return false;
    }
    if (t > end) return false;
    now = t;
  }
}

/** The worker side: instantiate, say ready, then run tasks until EXIT. Blocks its thread. */
export async function workerMain(init: WorkerInit, post: (msg: string) => void): Promise<void> {
  const k = await instantiateSimd(init.module, init.memory);
  const ctrl = new Int32Array(init.control, 0, ARGS_BYTE / 4);
  const args = new Float64Array(init.control, ARGS_BYTE, MAX_ARGS);
  const stamps = new Float64Array(init.stamps);
  const share = STAMP.shares + 2 * init.index;
  const clockOffset = performance.timeOrigin - init.timeOrigin;
  let seen = Atomics.load(ctrl, SLOT.generation);
  post('ready');
  for (;;) {
    if (!spinWhile(ctrl, SLOT.generation, seen)) Atomics.wait(ctrl, SLOT.generation, seen);
    const gen = Atomics.load(ctrl, SLOT.generation);
    if (gen === seen) continue;
    seen = gen;
    const id = Atomics.load(ctrl, SLOT.task);
    if (id === EXIT) return;
    try {
      const task = TASK_BY_ID.get(id);
      if (task === undefined) throw new Error(`simd pool: unknown task ${id}`);
      const record = Atomics.load(ctrl, SLOT.record); // -1 unless a profile runs
      if (record < 0) {
        task.run(k, args, init.index, init.nThreads);
      } else {
        stamps[record + share] = performance.now() + clockOffset;
        task.run(k, args, init.index, init.nThreads);
        stamps[record + share + 1] = performance.now() + clockOffset;
      }
    } catch (e) {
      Atomics.store(ctrl, SLOT.failed, 1);
      post(`error: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (Atomics.sub(ctrl, SLOT.pending, 1) === 1) Atomics.notify(ctrl, SLOT.pending);
  }
}

/** The caller's side: N - 1 workers plus the calling thread. */
export class ThreadPool {
  private readonly ctrl: Int32Array;
  private readonly args: Float64Array;
  private readonly stamps: Float64Array;
  /** The profile's task numbers in dispatch order, and whether each ran parallel; null: not profiling. */
  private profile: { ids: number[]; parallel: boolean[]; overflow: number } | null = null;

  private constructor(
    private readonly k: SimdExports,
    private readonly workers: WorkerHandle[],
    control: SharedArrayBuffer | null,
    stamps: SharedArrayBuffer | null,
    private readonly canBlock: boolean,
  ) {
    const buf = control ?? new ArrayBuffer(CONTROL_BYTES);
    this.ctrl = new Int32Array(buf, 0, ARGS_BYTE / 4);
    this.args = new Float64Array(buf, ARGS_BYTE, MAX_ARGS);
    this.stamps = new Float64Array(stamps ?? new ArrayBuffer(8 * PROFILE_TASKS * recordFloats(1)));
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /** A pool of `threads` threads; with 1 (or no host) every task runs on the caller. */
  static async start(k: SimdExports, module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number, host: ThreadHost | null): Promise<ThreadPool> {
    if (threads <= 1 || host === null) return new ThreadPool(k, [], null, null, true);
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const stamps = new SharedArrayBuffer(8 * PROFILE_TASKS * recordFloats(threads));
    const workers: WorkerHandle[] = [];
    for (let index = 1; index < threads; index++) {
      const w = host.spawn();
      w.post({ module, memory, control, stamps, timeOrigin: performance.timeOrigin, index, nThreads: threads });
      workers.push(w);
    }
    try {
      await Promise.all(workers.map((w) => w.ready()));
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new ThreadPool(k, workers, control, stamps, host.canBlock);
  }

  /**
   * Runs a task (an entry of TASKS) on every thread with these arguments and waits for all;
   * with parallel = false (jobs too small to repay a dispatch) on the calling thread alone.
   */
  run<A extends Record<keyof A, number>>(task: Task<A>, a: A, parallel = true): void {
    const args = this.args;
    task.keys.forEach((key, i) => { args[i] = a[key]; });
    const alone = this.workers.length === 0 || !parallel;
    const record = this.profile === null ? -1 : this.nextRecord(task.id, !alone);
    if (record >= 0) this.stamps[record + STAMP.posted] = performance.now();
    if (alone) {
      this.callerShare(task, 1, record);
    } else {
      const ctrl = this.ctrl;
      Atomics.store(ctrl, SLOT.task, task.id);
      Atomics.store(ctrl, SLOT.record, record);
      Atomics.store(ctrl, SLOT.pending, this.workers.length);
      Atomics.add(ctrl, SLOT.generation, 1);
      Atomics.notify(ctrl, SLOT.generation);
      this.callerShare(task, this.threads, record);
      for (let p = Atomics.load(ctrl, SLOT.pending); p !== 0; p = Atomics.load(ctrl, SLOT.pending)) {
        if (this.canBlock && !spinWhile(ctrl, SLOT.pending, p)) Atomics.wait(ctrl, SLOT.pending, p);
      }
      if (Atomics.load(ctrl, SLOT.failed) !== 0) throw new Error('cpu-simd: a worker thread failed its task (see its error message)');
    }
    if (record >= 0) this.stamps[record + STAMP.done] = performance.now();
  }

  /** Thread 0's share of a task split `nThreads` ways, stamped into `record` unless it is -1. */
  private callerShare<A>(task: Task<A>, nThreads: number, record: number): void {
    if (record < 0) {
      task.run(this.k, this.args, 0, nThreads);
      return;
    }
    this.stamps[record + STAMP.shares] = performance.now();
    task.run(this.k, this.args, 0, nThreads);
    this.stamps[record + STAMP.shares + 1] = performance.now();
  }

  /** Records every task from now on (see TaskRecord), until stopProfile(). */
  startProfile(): void {
    this.stamps.fill(NaN); // a stamp never written reads NaN, not an older profile's
    this.profile = { ids: [], parallel: [], overflow: 0 };
  }

  /** The tasks since startProfile(), in dispatch order; profiling stops. */
  stopProfile(): TaskRecord[] {
    const profile = this.profile;
    if (profile === null) throw new Error('simd pool: stopProfile() without startProfile()');
    this.profile = null;
    if (profile.overflow > 0) {
      throw new Error(`simd pool: a profile holds ${PROFILE_TASKS} tasks and this one ran ${PROFILE_TASKS + profile.overflow}: profile fewer forwards at a time`);
    }
    const floats = recordFloats(this.threads);
    return profile.ids.map((id, i) => {
      const at = i * floats, parallel = profile.parallel[i]!;
      const shares: [number, number][] = [];
      for (let t = 0; t < (parallel ? this.threads : 1); t++) {
        shares.push([this.stamps[at + STAMP.shares + 2 * t]!, this.stamps[at + STAMP.shares + 2 * t + 1]!]);
      }
      return { name: TASK_NAME.get(id)!, id, parallel, posted: this.stamps[at + STAMP.posted]!, shares, done: this.stamps[at + STAMP.done]! };
    });
  }

  /** The offset of the next task's record in the stamps, or -1 when the profile is full. */
  private nextRecord(id: number, parallel: boolean): number {
    const profile = this.profile!;
    if (profile.ids.length === PROFILE_TASKS) {
      profile.overflow++;
      return -1;
    }
    profile.ids.push(id);
    profile.parallel.push(parallel);
    return (profile.ids.length - 1) * recordFloats(this.threads);
  }

  dispose(): void {
    if (this.workers.length === 0) return;
    Atomics.store(this.ctrl, SLOT.task, EXIT);
    Atomics.add(this.ctrl, SLOT.generation, 1);
    Atomics.notify(this.ctrl, SLOT.generation);
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }
}
