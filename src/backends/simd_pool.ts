// The worker threads of the 'cpu-simd' backend, environment-neutral: every thread (the caller
// and N - 1 workers) instantiates the same kernel module over the same shared WebAssembly.Memory,
// and a task is one kernel call cut into pieces (TASKS below; a piece's code is in src/ops/simd/,
// e.g. dense.ts denseConvPart). Tasks are posted through a small SharedArrayBuffer, not messages:
// the caller writes the task and its arguments, resets the claim counter, bumps a generation
// counter and notifies. Then every thread, the caller included, claims the next unclaimed piece
// and runs it until none is left, and counts each piece done; the caller waits until all are.
// Pieces go to whoever asks, not by thread index: a worker that wakes late, or that the OS
// preempts, takes fewer and the others take the rest (docs/profile.md, "The fourteenth"); one
// that sleeps through a whole task costs it nothing. A claim carries the task's generation, so a
// late worker cannot claim a piece of a task it did not read.
// Backend ops are synchronous, so the caller blocks (Atomics.wait in Node; a browser's main
// thread may not block and spins instead); threads poll briefly before blocking (SPIN_MS).
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
import { softmaxPart } from '../ops/simd/softmax.js';
import { strassenConvPart } from '../ops/simd/strassen.js';
import { instantiateSimd } from '../ops/simd/module.js';
import { winogradGemmPart, winogradInputPart, winogradPart, type WinogradArgs, type WinogradTwoTaskArgs } from '../ops/simd/winograd.js';

/**
 * Int32 slots of the control buffer; float64 arguments follow at ARGS_BYTE. claim: the task's
 * generation tag (claimTag) plus the next unclaimed piece; done: pieces finished.
 */
const SLOT = { generation: 0, claim: 1, done: 2, task: 3, failed: 4, record: 5, pieces: 6 } as const;
const ARGS_BYTE = 64;
const MAX_ARGS = 32;
export const CONTROL_BYTES = ARGS_BYTE + 8 * MAX_ARGS;

/**
 * A claim word is the generation's low 20 bits above PIECE_BITS bits of piece index. The tags of
 * two generations less than 2^20 apart differ by a nonzero multiple of 2^PIECE_BITS (modulo 2^32),
 * so a claim with the wrong tag reads a piece index outside [0, pieces). (A worker would have to
 * stall between reading a generation and claiming for a million tasks to meet its tag again.)
 */
const PIECE_BITS = 12;
/** The most pieces one task may have. */
const MAX_PIECES = (1 << PIECE_BITS) - 1;
const claimTag = (generation: number) => (generation << PIECE_BITS) | 0;

/**
 * Pieces a parallel task is cut into, per thread. More pieces even out the threads' ends (a late
 * or preempted thread leaves less for the others to wait for) at the cost of more, smaller calls
 * (a Winograd chunk re-pads 2 input rows, a GEMM runs shorter tiles).
 */
export const PIECES_PER_THREAD = 4;

/**
 * The next piece of the task whose claim word carries `tag`, or -1 when every piece is claimed or
 * that task is over (the word carries a later generation's tag).
 */
function claim(ctrl: Int32Array, tag: number, pieces: number): number {
  for (;;) {
    const v = Atomics.load(ctrl, SLOT.claim);
    const piece = v - tag;
    if (piece < 0 || piece >= pieces) return -1; // another generation's word, or all claimed
    if (Atomics.compareExchange(ctrl, SLOT.claim, v, v + 1) === v) return piece;
  }
}

/**
 * Tasks one profile can hold (startProfile to stopProfile): a forward runs 63 on mobile0.25 and
 * 118 on ResNet-50, at any input size. The buffer takes PROFILE_TASKS * (3 * threads + 2) float64s
 * (32 KB with 2 threads); a profile that runs past it says so in stopProfile().
 */
export const PROFILE_TASKS = 512;

/** The task number that tells the workers to return. */
const EXIT = 0;

/**
 * A task of the pool: one kernel call cut into pieces. `id` is the number the control buffer
 * carries, `keys` the order of its arguments there (a float64 each), `run` one piece with its
 * arguments read back from there, on thread `slot`'s scratch (the caller is slot 0; every piece
 * may run on any thread, so one thread runs what N run).
 */
export interface Task<A> extends Runnable {
  readonly keys: readonly (keyof A)[];
}

/** What dispatching a task needs once its arguments are encoded: its number and its part. */
export interface Runnable {
  readonly id: number;
  readonly run: (k: SimdExports, args: Float64Array, slot: number, piece: number, pieces: number) => void;
}

/** A task as run() posted it: which one, its arguments encoded as the workers read them, whether it was split. */
export interface PostedTask {
  readonly task: Runnable;
  readonly args: Float64Array;
  readonly parallel: boolean;
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
  id: number, part: (k: SimdExports, a: A, slot: number, piece: number, pieces: number) => void, keys: EveryKey<A, K>,
): Task<A> {
  const order = keys as K; // EveryKey<A, K> is K wherever this compiles
  return { id, keys: order, run: (k, args, slot, piece, pieces) => part(k, decode<A>(order, args), slot, piece, pieces) };
}

const WINOGRAD_KEYS = [
  'x', 'cIn', 'h', 'w', 'cOut', 'y', 'tile', 'weights', 'zeros', 'bias', 'slope', 'hasSlope',
  'cOut1', 'y2', 'bias2', 'slope2', 'hasSlope2', 'scratch', 'scratchBytes',
] as const;

/** Every task the threads run, each spelled once: its number (distinct, not EXIT), its arguments' order, its part. */
export const TASKS = {
  dense: task(1, denseConvPart, [
    'x', 'cIn', 'h', 'w', 'kSize', 'stride', 'pad', 'hOut', 'wOut', 'weights', 'bias', 'cOut', 'y', 'slope', 'hasSlope', 'res', 'scratch', 'scratchBytes',
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
  winogradInput: task<WinogradTwoTaskArgs, readonly [...typeof WINOGRAD_KEYS, 'v']>(10, winogradInputPart, [...WINOGRAD_KEYS, 'v']),
  winogradGemm: task<WinogradTwoTaskArgs, readonly [...typeof WINOGRAD_KEYS, 'v']>(11, winogradGemmPart, [...WINOGRAD_KEYS, 'v']),
  strassen: task(12, strassenConvPart, [
    'x', 'cIn', 'h', 'w', 'kSize', 'stride', 'pad', 'hOut', 'wOut', 'weights', 'bias', 'cOut', 'y', 'slope', 'hasSlope', 'res', 'scratch', 'scratchBytes',
  ]),
  softmax: task(13, softmaxPart, ['x', 'y', 'rows', 'k']),
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
  /**
   * [start, end] of each thread's share (from its first piece's start to its last one's end),
   * thread 0 the caller's; null for a thread that ran no piece of it
   */
  shares: ([number, number] | null)[];
  /** pieces each thread ran */
  pieces: number[];
  /** when the caller saw every share finished */
  done: number;
}

/**
 * Where a record's stamps sit in the profile buffer (float64 offsets from the record's start):
 * posted, done, then [start, end, pieces run] per thread.
 */
const STAMP = { posted: 0, done: 1, shares: 2 } as const;
const SHARE_FLOATS = 3;
const recordFloats = (nThreads: number) => STAMP.shares + SHARE_FLOATS * nThreads;

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
  const clockOffset = performance.timeOrigin - init.timeOrigin;
  let seen = Atomics.load(ctrl, SLOT.generation);
  post('ready');
  for (;;) {
    if (!spinWhile(ctrl, SLOT.generation, seen)) Atomics.wait(ctrl, SLOT.generation, seen);
    const gen = Atomics.load(ctrl, SLOT.generation);
    if (gen === seen) continue;
    seen = gen;
    // Read before the claim: if the claim succeeds, the task is still this generation's (it
    // cannot end before the claimed piece is done), so these and the arguments are its own.
    const id = Atomics.load(ctrl, SLOT.task);
    if (id === EXIT) return;
    const pieces = Atomics.load(ctrl, SLOT.pieces);
    const record = Atomics.load(ctrl, SLOT.record); // -1 unless a profile runs
    const task = TASK_BY_ID.get(id);
    const share = record < 0 ? null : { stamps, at: record + STAMP.shares + SHARE_FLOATS * init.index, clockOffset };
    runPieces(ctrl, claimTag(gen), pieces, (piece) => {
      try {
        if (task === undefined) throw new Error(`simd pool: unknown task ${id}`);
        task.run(k, args, init.index, piece, pieces);
      } catch (e) {
        Atomics.store(ctrl, SLOT.failed, 1);
        post(`error: ${e instanceof Error ? e.message : String(e)}`);
      }
    }, share);
  }
}

/** Where a profiled task's record keeps one thread's share (STAMP), and the offset onto the caller's clock. */
interface ShareStamps { stamps: Float64Array; at: number; clockOffset: number }

/**
 * Claims and runs pieces of the task tagged `tag` until none is left, counting each one done (the
 * thread that finishes the last one wakes the caller). `run` must not throw: a piece counts as
 * done either way. With `share`, writes this thread's share: its first piece's start, its last
 * one's end, the pieces run.
 */
function runPieces(ctrl: Int32Array, tag: number, pieces: number, run: (piece: number) => void, share: ShareStamps | null): void {
  let ran = 0;
  for (let piece = claim(ctrl, tag, pieces); piece >= 0; piece = claim(ctrl, tag, pieces)) {
    if (ran === 0 && share !== null) share.stamps[share.at] = performance.now() + share.clockOffset;
    run(piece);
    ran++;
    if (share !== null) { // before the piece counts as done: the caller may stamp `done` right after
      share.stamps[share.at + 1] = performance.now() + share.clockOffset;
      share.stamps[share.at + 2] = ran;
    }
    if (Atomics.add(ctrl, SLOT.done, 1) === pieces - 1) Atomics.notify(ctrl, SLOT.done);
  }
}

/** The caller's side: N - 1 workers plus the calling thread. */
export class ThreadPool {
  private readonly ctrl: Int32Array;
  private readonly args: Float64Array;
  private readonly stamps: Float64Array;
  /** While set, every task run() posts is appended here as posted (a pass being recorded: simd_replay.ts). */
  recording: PostedTask[] | null = null;
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

  /** Pieces a parallel task is cut into: PIECES_PER_THREAD a thread. */
  get pieces(): number {
    return Math.min(MAX_PIECES, this.threads * PIECES_PER_THREAD);
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
   * Runs a task (an entry of TASKS) with these arguments, cut into PIECES_PER_THREAD pieces per
   * thread that every thread claims, and waits for all; with parallel = false (jobs too small to
   * repay a dispatch) as one piece on the calling thread alone.
   */
  run<A extends Record<keyof A, number>>(task: Task<A>, a: A, parallel = true): void {
    const args = this.args;
    task.keys.forEach((key, i) => { args[i] = a[key]; });
    if (this.recording !== null) this.recording.push({ task, args: args.slice(0, task.keys.length), parallel });
    this.dispatch(task, parallel);
  }

  /** A recorded task run again: its arguments as they were posted (a replayed pass, simd_replay.ts). */
  runPosted(t: PostedTask): void {
    this.args.set(t.args);
    this.dispatch(t.task, t.parallel);
  }

  /** Runs `task` on the arguments already in the control buffer (run()'s second half). */
  private dispatch(task: Runnable, parallel: boolean): void {
    const args = this.args;
    const alone = this.workers.length === 0 || !parallel;
    const record = this.profile === null ? -1 : this.nextRecord(task.id, !alone);
    const share = record < 0 ? null : { stamps: this.stamps, at: record + STAMP.shares, clockOffset: 0 };
    if (record >= 0) this.stamps[record + STAMP.posted] = performance.now();
    if (alone) {
      if (share !== null) share.stamps[share.at] = performance.now();
      task.run(this.k, args, 0, 0, 1);
      if (share !== null) share.stamps.set([performance.now(), 1], share.at + 1);
    } else {
      const ctrl = this.ctrl;
      const pieces = this.pieces;
      const generation = (Atomics.load(ctrl, SLOT.generation) + 1) | 0;
      const tag = claimTag(generation);
      Atomics.store(ctrl, SLOT.task, task.id);
      Atomics.store(ctrl, SLOT.record, record);
      Atomics.store(ctrl, SLOT.pieces, pieces);
      Atomics.store(ctrl, SLOT.done, 0);
      Atomics.store(ctrl, SLOT.failed, 0);
      Atomics.store(ctrl, SLOT.claim, tag);
      Atomics.store(ctrl, SLOT.generation, generation);
      Atomics.notify(ctrl, SLOT.generation);
      // A piece that throws here still counts as done, and the caller waits for the others'
      // pieces before it throws: the next task must not start while this one's pieces run.
      let error: unknown = null;
      runPieces(ctrl, tag, pieces, (piece) => {
        try {
          task.run(this.k, args, 0, piece, pieces);
        } catch (e) {
          error ??= e;
        }
      }, share);
      for (let d = Atomics.load(ctrl, SLOT.done); d !== pieces; d = Atomics.load(ctrl, SLOT.done)) {
        if (this.canBlock && !spinWhile(ctrl, SLOT.done, d)) Atomics.wait(ctrl, SLOT.done, d);
      }
      if (error !== null) throw error;
      if (Atomics.load(ctrl, SLOT.failed) !== 0) throw new Error('cpu-simd: a worker thread failed its task (see its error message)');
    }
    if (record >= 0) this.stamps[record + STAMP.done] = performance.now();
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
      const shares: ([number, number] | null)[] = [], pieces: number[] = [];
      for (let t = 0; t < (parallel ? this.threads : 1); t++) {
        const s = at + STAMP.shares + SHARE_FLOATS * t;
        const ran = this.stamps[s + 2]!; // NaN: never written, the thread ran no piece
        shares.push(Number.isNaN(ran) ? null : [this.stamps[s]!, this.stamps[s + 1]!]);
        pieces.push(Number.isNaN(ran) ? 0 : ran);
      }
      return { name: TASK_NAME.get(id)!, id, parallel, posted: this.stamps[at + STAMP.posted]!, shares, pieces, done: this.stamps[at + STAMP.done]! };
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
