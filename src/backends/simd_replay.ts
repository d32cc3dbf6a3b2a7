// A forward pass recorded, then replayed (issue #16; docs/profile.md, "The thirtieth"). On
// cpu-simd everything a pass computes is a thread-pool task whose arguments are arena offsets and
// sizes, and every offset comes from the arena, whose allocations depend only on its state at the
// pass's start (Arena.state) and on the sizes asked for. So a pass whose input lands where the
// recorded pass's did, with the arena in the same state, would post the same tasks with the same
// arguments and leave the same blocks allocated. Replaying it redoes exactly that: the arena's
// allocations and releases from the recorded journal (each checked against the recorded offset),
// then every task as it was posted, without walking the network (the model's forward, the
// scheduler, the backend's fusion decisions, the argument objects). What that leaves undone is
// JavaScript: the caller's time, and, on two threads, the optimizing compiler's and the GC's time
// on the core the worker needs (docs/profile.md, "The twenty-ninth").
//
// A pass is recorded each time none matches, and kept only if its net effect on the arena is the
// input's block freed and the outputs' blocks allocated, nothing else (a first pass at a size that
// makes nearest upsampling's index maps, which stay, is not kept) and it computed nothing outside
// the pool (noteUnrecordable). One recording is kept; prepare() drops it.
import type { Arena } from '../wasm/arena.js';
import type { PostedTask, ThreadPool } from './simd_pool.js';

/** A pass as recorded: what it started from, its arena journal and tasks, its outputs' blocks. */
export interface RecordedPass {
  /** the model it ran (by identity) */
  model: object;
  /** the arena's state and the input's block and shape when it started */
  key: string;
  /** Arena.journal: (nFloats, offset) an allocation, (-1, offset) a release */
  journal: Int32Array;
  tasks: PostedTask[];
  outputs: { ptr: number; shape: number[] }[];
}

/** A pass's input or output as the recorder sees it: its block and shape. */
export interface PassValue { ptr: number; shape: readonly number[] }

export class PassRecorder {
  private kept: RecordedPass | null = null;
  /** why the pass being recorded cannot be replayed (noteUnrecordable), or null */
  private spoiled: string | null = null;
  /** Passes replayed and recorded since this recorder was made (tests and benchmarks read them). */
  replayed = 0;
  recorded = 0;

  constructor(private readonly arena: Arena, private readonly pool: ThreadPool) {}

  /** The key of a pass of `model` on input x now. */
  key(x: PassValue): string {
    return `${x.ptr}:${x.shape.join('x')}:${this.arena.state()}`;
  }

  /** The recording a pass of `model` with this key would replay, or null. */
  match(model: object, key: string): RecordedPass | null {
    const r = this.kept;
    return r !== null && r.model === model && r.key === key ? r : null;
  }

  /**
   * Runs `walk` (the pass, returning its outputs) while recording it; keeps the recording when
   * `settled(outputs)` (called after the walk: the input freed, no deferred work left, the outputs
   * blocks of their own) holds and the
   * journal's net effect is the input freed and the outputs allocated.
   */
  record<O extends PassValue>(model: object, key: string, x: PassValue, walk: () => O[], settled: (outs: O[]) => boolean): O[] {
    const journal: number[] = [], tasks: PostedTask[] = [];
    this.spoiled = null;
    this.arena.journal = journal;
    this.pool.recording = tasks;
    let outs: O[];
    try {
      outs = walk();
    } finally {
      this.arena.journal = null;
      this.pool.recording = null;
    }
    if (this.spoiled === null && settled(outs) && netEffect(journal, x.ptr, outs.map((o) => o.ptr))) {
      this.kept = { model, key, journal: Int32Array.from(journal), tasks, outputs: outs.map((o) => ({ ptr: o.ptr, shape: [...o.shape] })) };
      this.recorded++;
    }
    return outs;
  }

  /** The pass being recorded computed something outside the pool's tasks: it will not be kept. */
  noteUnrecordable(why: string): void {
    this.spoiled ??= why;
  }

  /**
   * Replays `r` on the input already in its block: the journal, then the tasks. Returns the
   * outputs' blocks and shapes (the input's block is freed, as the walk would have freed it).
   */
  replay(r: RecordedPass): { ptr: number; shape: number[] }[] {
    const arena = this.arena, j = r.journal;
    for (let i = 0; i < j.length; i += 2) {
      if (j[i]! < 0) arena.release(j[i + 1]!);
      else if (arena.alloc(j[i]!) !== j[i + 1]) throw new Error('cpu-simd: a replayed pass allocated otherwise than its recording (the arena was not in the recorded state)');
    }
    try {
      for (const t of r.tasks) this.pool.runPosted(t);
    } catch (e) {
      for (const o of r.outputs) arena.release(o.ptr);
      throw e;
    }
    this.replayed++;
    return r.outputs;
  }

  /** Drops the recording (new weights, a disposed pool). */
  clear(): void {
    this.kept = null;
  }
}

/**
 * Whether a journal's net effect is exactly: the input's block released, the outputs' blocks
 * allocated (every other block it allocated, it released; it released no other block from before).
 */
export function netEffect(journal: readonly number[], input: number, outputs: readonly number[]): boolean {
  const live = new Set<number>(), freedBefore: number[] = [];
  for (let i = 0; i < journal.length; i += 2) {
    const off = journal[i + 1]!;
    if (journal[i]! >= 0) live.add(off);
    else if (!live.delete(off)) freedBefore.push(off);
  }
  return freedBefore.length === 1 && freedBefore[0] === input && live.size === outputs.length && outputs.every((o) => live.has(o));
}
