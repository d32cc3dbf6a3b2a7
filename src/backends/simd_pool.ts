// The worker threads of the 'cpu-simd' backend, environment-neutral: every thread (the caller
// and N - 1 workers) instantiates the same kernel module over the same shared WebAssembly.Memory,
// and a task is one kernel call split by thread index (src/ops/simd/: dense.ts denseConvPart,
// depthwise.ts depthwisePart). Tasks are posted through a small SharedArrayBuffer, not messages: the caller
// writes the task and its arguments, bumps a generation counter and notifies; each worker runs
// its share and decrements a pending counter; the caller runs share 0 and waits for zero.
// Backend ops are synchronous, so the caller blocks (Atomics.wait in Node; a browser's main
// thread may not block and spins instead). Spinning a few microseconds before blocking was tried:
// with the cores shared by other jobs it made a dispatch 3x slower (157 vs 52 us), so it is out.
//
// How a worker is started (Node worker_threads, browser Web Workers) is the host's business:
// simd_host.node.ts and simd_host.browser.ts; the workers' entries are simd_worker.node.ts and simd_worker.ts.
import type { SimdExports } from '../ops/simd/common.js';
import { denseConvPart, type DenseConvArgs } from '../ops/simd/dense.js';
import { depthwisePart, type DepthwiseArgs } from '../ops/simd/depthwise.js';
import { elementwisePart, headPermutePart, type ElementwiseArgs, type PermuteArgs } from '../ops/simd/elementwise.js';
import { instantiateSimd } from '../ops/simd/module.js';
import { winogradPadPart, winogradPart, type WinogradArgs } from '../ops/simd/winograd.js';

export const TASK = { exit: 0, dense: 1, depthwise: 2, elementwise: 3, headPermute: 4, winogradPad: 5, winograd: 6 } as const;

/** Int32 slots of the control buffer; float64 arguments follow at ARGS_BYTE. */
const SLOT = { generation: 0, pending: 1, task: 2, failed: 3 } as const;
const ARGS_BYTE = 64;
const MAX_ARGS = 32;
export const CONTROL_BYTES = ARGS_BYTE + 8 * MAX_ARGS;

// The argument order of each task in the control buffer.
export const DENSE_KEYS: readonly (keyof DenseConvArgs)[] = [
  'x', 'cIn', 'h', 'w', 'kSize', 'stride', 'pad', 'hOut', 'wOut', 'weights', 'bias', 'cOut', 'y', 'slope', 'hasSlope', 'scratch', 'scratchBytes',
];
export const DEPTHWISE_KEYS: readonly (keyof DepthwiseArgs)[] = [
  'x', 'c', 'h', 'w', 'stride', 'hOut', 'wOut', 'weights', 'bias', 'y', 'slope', 'hasSlope', 'scratch', 'scratchBytes',
];

export const ELEMENTWISE_KEYS: readonly (keyof ElementwiseArgs)[] = ['a', 'b', 'y', 'n', 'slope', 'hasSlope'];
export const PERMUTE_KEYS: readonly (keyof PermuteArgs)[] = ['x', 'y', 'c', 'hw'];
export const WINOGRAD_KEYS: readonly (keyof WinogradArgs)[] = [
  'x', 'cIn', 'h', 'w', 'cOut', 'y', 'weights', 'zeros', 'bias', 'slope', 'hasSlope', 'xpad', 'scratch', 'scratchBytes',
];

function decode<T>(keys: readonly (keyof T)[], src: Float64Array): T {
  const out = {} as Record<keyof T, number>;
  keys.forEach((k, i) => { out[k] = src[i]!; });
  return out as T;
}

function runTask(k: SimdExports, task: number, args: Float64Array, t: number, nThreads: number): void {
  if (task === TASK.dense) denseConvPart(k, decode<DenseConvArgs>(DENSE_KEYS, args), t, nThreads);
  else if (task === TASK.elementwise) elementwisePart(k, decode<ElementwiseArgs>(ELEMENTWISE_KEYS, args), t, nThreads);
  else if (task === TASK.headPermute) headPermutePart(k, decode<PermuteArgs>(PERMUTE_KEYS, args), t, nThreads);
  else if (task === TASK.winogradPad) winogradPadPart(k, decode<WinogradArgs>(WINOGRAD_KEYS, args), t, nThreads);
  else if (task === TASK.winograd) winogradPart(k, decode<WinogradArgs>(WINOGRAD_KEYS, args), t, nThreads);
  else if (task === TASK.depthwise) depthwisePart(k, decode<DepthwiseArgs>(DEPTHWISE_KEYS, args), t, nThreads);
  else throw new Error(`simd pool: unknown task ${task}`);
}

/** What a started worker receives first. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
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
}

/** The worker side: instantiate, say ready, then run tasks until TASK.exit. Blocks its thread. */
export async function workerMain(init: WorkerInit, post: (msg: string) => void): Promise<void> {
  const k = await instantiateSimd(init.module, init.memory);
  const ctrl = new Int32Array(init.control, 0, ARGS_BYTE / 4);
  const args = new Float64Array(init.control, ARGS_BYTE, MAX_ARGS);
  let seen = Atomics.load(ctrl, SLOT.generation);
  post('ready');
  for (;;) {
    Atomics.wait(ctrl, SLOT.generation, seen);
    const gen = Atomics.load(ctrl, SLOT.generation);
    if (gen === seen) continue;
    seen = gen;
    const task = Atomics.load(ctrl, SLOT.task);
    if (task === TASK.exit) return;
    try {
      runTask(k, task, args, init.index, init.nThreads);
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

  private constructor(
    private readonly k: SimdExports,
    private readonly workers: WorkerHandle[],
    control: SharedArrayBuffer | null,
    private readonly canBlock: boolean,
  ) {
    const buf = control ?? new ArrayBuffer(CONTROL_BYTES);
    this.ctrl = new Int32Array(buf, 0, ARGS_BYTE / 4);
    this.args = new Float64Array(buf, ARGS_BYTE, MAX_ARGS);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /** A pool of `threads` threads; with 1 (or no host) every task runs on the caller. */
  static async start(k: SimdExports, module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number, host: ThreadHost | null): Promise<ThreadPool> {
    if (threads <= 1 || host === null) return new ThreadPool(k, [], null, true);
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const workers: WorkerHandle[] = [];
    for (let index = 1; index < threads; index++) {
      const w = host.spawn();
      w.post({ module, memory, control, index, nThreads: threads });
      workers.push(w);
    }
    try {
      await Promise.all(workers.map((w) => w.ready()));
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new ThreadPool(k, workers, control, host.canBlock);
  }

  /**
   * Runs a task on every thread with these arguments (in the task's key order) and waits for all;
   * with parallel = false (jobs too small to repay a dispatch) on the calling thread alone.
   */
  run<T>(task: number, keys: readonly (keyof T)[], a: T, parallel = true): void {
    const args = this.args;
    keys.forEach((key, i) => { args[i] = a[key] as number; });
    if (this.workers.length === 0 || !parallel) {
      runTask(this.k, task, args, 0, 1);
      return;
    }
    const ctrl = this.ctrl;
    Atomics.store(ctrl, SLOT.task, task);
    Atomics.store(ctrl, SLOT.pending, this.workers.length);
    Atomics.add(ctrl, SLOT.generation, 1);
    Atomics.notify(ctrl, SLOT.generation);
    runTask(this.k, task, args, 0, this.threads);
    for (let p = Atomics.load(ctrl, SLOT.pending); p !== 0; p = Atomics.load(ctrl, SLOT.pending)) {
      if (this.canBlock) Atomics.wait(ctrl, SLOT.pending, p);
    }
    if (Atomics.load(ctrl, SLOT.failed) !== 0) throw new Error('cpu-simd: a worker thread failed its task (see its error message)');
  }

  dispose(): void {
    if (this.workers.length === 0) return;
    Atomics.store(this.ctrl, SLOT.task, TASK.exit);
    Atomics.add(this.ctrl, SLOT.generation, 1);
    Atomics.notify(this.ctrl, SLOT.generation);
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }
}
