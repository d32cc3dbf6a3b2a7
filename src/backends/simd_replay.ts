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
// A pass is recorded each time none matches, and kept only if a replay would redo all it did: its
// net effect on the arena is the input's block freed and the outputs' blocks allocated, nothing
// else (the first pass at a size makes nearest upsampling's index maps, which stay: not kept), and
// no view of the memory went to JavaScript while it ran (JavaScript computing outside the pool,
// such as max pooling other than ResNet-50's: not kept). The last MAX_RECORDINGS kept are held,
// so that passes of a few sizes in turn (detect()'s scales, tiles, flips) each replay; prepare()
// drops them all (the backend makes a new recorder).
import { JOURNAL_RELEASE, JOURNAL_VIEW, type Arena } from '../wasm/arena.js';
import type { PostedTask, ThreadPool } from './simd_pool.js';

/** Recordings held, the least recently replayed dropped first: a few KB each. */
export const MAX_RECORDINGS = 8;

/** A pass's input or output as the recorder sees it: its block and shape. */
export interface PassValue { ptr: number; shape: readonly number[] }

/** A pass as recorded: the model it ran, its arena journal and tasks, its outputs. */
interface RecordedPass {
  /** by identity */
  model: object;
  /** Arena.journal as it ran (float64: offsets reach 4 GB) */
  journal: Float64Array;
  tasks: PostedTask[];
  outputs: PassValue[];
}

export class PassRecorder {
  /** by key(): the input's block and shape and the arena's state when the pass started */
  private readonly kept = new Map<string, RecordedPass>();
  /** Passes replayed, and recordings kept, since this recorder was made (tests and benchmarks read them). */
  replayed = 0;
  recordings = 0;

  constructor(private readonly arena: Arena, private readonly pool: ThreadPool) {}

  /** What a pass on input x now starts from: x's block and shape, and the arena's state. */
  key(x: PassValue): string {
    return `${x.ptr}:${x.shape.join('x')}:${this.arena.state()}`;
  }

  /** The recorded pass of `model` that started from `key`, or null. */
  match(model: object, key: string): RecordedPass | null {
    const r = this.kept.get(key);
    if (r === undefined || r.model !== model) return null;
    this.kept.delete(key); // re-inserted: the most recently used is the last to go
    this.kept.set(key, r);
    return r;
  }

  /**
   * Runs `walk` (the pass on input x, returning its outputs) while recording it. The recording is
   * kept when `settled(outputs)` holds after the walk (the backend's own state: the input freed,
   * no deferred work left, each output a block of its own) and the journal shows that a replay
   * would redo all the walk did (netEffect).
   */
  record<O extends PassValue>(model: object, key: string, x: PassValue, walk: () => O[], settled: (outs: O[]) => boolean): O[] {
    const journal: number[] = [], tasks: PostedTask[] = [];
    this.arena.journal = journal;
    this.pool.recording = tasks;
    let outs: O[];
    try {
      outs = walk();
    } finally {
      this.arena.journal = null;
      this.pool.recording = null;
    }
    if (settled(outs) && netEffect(journal, x.ptr, outs.map((o) => o.ptr))) {
      this.kept.set(key, { model, journal: Float64Array.from(journal), tasks, outputs: outs.map((o) => ({ ptr: o.ptr, shape: [...o.shape] })) });
      if (this.kept.size > MAX_RECORDINGS) this.kept.delete(this.kept.keys().next().value!);
      this.recordings++;
    }
    return outs;
  }

  /**
   * Replays `r` on the input already in its block: the journal, then the tasks. Returns the
   * outputs (the input's block is freed, as the walk frees it). If a task fails, the outputs'
   * blocks go back to the arena and the recording is dropped.
   */
  replay(key: string, r: RecordedPass): readonly PassValue[] {
    const arena = this.arena, j = r.journal;
    try {
      for (let i = 0; i < j.length; i += 2) {
        if (j[i] === JOURNAL_RELEASE) arena.release(j[i + 1]!);
        else if (arena.alloc(j[i]!) !== j[i + 1]) throw new Error('cpu-simd: a replayed pass allocated otherwise than its recording (the arena was not in the recorded state)');
      }
    } catch (e) {
      this.kept.delete(key);
      throw e;
    }
    try {
      for (const t of r.tasks) this.pool.runPosted(t);
    } catch (e) {
      for (const o of r.outputs) arena.release(o.ptr);
      this.kept.delete(key);
      throw e;
    }
    this.replayed++;
    return r.outputs;
  }
}

/**
 * Whether a journal (Arena.journal) could be replayed: no view of the memory went to JavaScript,
 * and its net effect is exactly the input's block released and the outputs' blocks allocated
 * (every other block it allocated, it released; it released no other block from before).
 */
export function netEffect(journal: readonly number[], input: number, outputs: readonly number[]): boolean {
  const live = new Set<number>(), freedBefore: number[] = [];
  for (let i = 0; i < journal.length; i += 2) {
    const off = journal[i + 1]!;
    if (journal[i] === JOURNAL_VIEW) return false;
    if (journal[i] === JOURNAL_RELEASE) {
      if (!live.delete(off)) freedBefore.push(off);
    } else live.add(off);
  }
  return freedBefore.length === 1 && freedBefore[0] === input && live.size === outputs.length && outputs.every((o) => live.has(o));
}
