// One WebAssembly.Memory as an arena: a first-fit free list over byte offsets, grown (never
// shrunk) when nothing fits. The forward pass allocates and frees in the same order on every
// frame, so from the second frame at a given input size every allocation lands on a block freed
// by the previous frame: no memory growth and no JS typed-array allocation on the hot path.
//
// Kernels read up to ARENA_SLACK bytes past the end of their inputs (a full vector for a partial
// tile; the lanes are never stored), so every block and the top of memory keep that much slack.

const PAGE = 65536;
/** Arena.journal's first number for a release, and for a view handed to JavaScript (allocations: nFloats >= 0). */
export const JOURNAL_RELEASE = -1;
export const JOURNAL_VIEW = -2;
/** Allocation granule: 64 bytes, a cache line, so blocks never share a line between threads. */
const ALIGN = 64;
/** Read slack after each block: a 16-float micro-tile read past a tensor's last element. */
export const ARENA_SLACK = 128;

export class Arena {
  /** Free blocks [offset, size], sorted by offset, coalesced. */
  private free: [number, number][] = [];
  private top: number;
  private sizes = new Map<number, number>();
  private view: Float32Array;
  /**
   * While set, every alloc appends (nFloats, offset), every release (JOURNAL_RELEASE, offset) and
   * every view of the memory handed to JavaScript (JOURNAL_VIEW, offset): a forward pass being
   * recorded (src/backends/simd_replay.ts; a view means JavaScript read or wrote the memory, which
   * a replay would not redo).
   */
  journal: number[] | null = null;

  /**
   * @param base first byte the arena hands out (below it: whatever the owner keeps there)
   */
  constructor(readonly memory: WebAssembly.Memory, base = ALIGN) {
    this.top = Math.ceil(base / ALIGN) * ALIGN;
    this.view = new Float32Array(memory.buffer);
  }

  /** Bytes in use up to the highest block ever allocated (the arena's footprint). */
  get highWater(): number {
    return this.top;
  }

  /** A block of n float32 values (uninitialized); returns its byte offset. */
  alloc(nFloats: number): number {
    const size = Math.ceil((nFloats * 4 + ARENA_SLACK) / ALIGN) * ALIGN;
    for (let i = 0; i < this.free.length; i++) {
      const [off, sz] = this.free[i]!;
      if (sz < size) continue;
      if (sz === size) this.free.splice(i, 1);
      else this.free[i] = [off + size, sz - size];
      this.sizes.set(off, size);
      this.journal?.push(nFloats, off);
      return off;
    }
    // Nothing fits: grow from the last free block when it reaches the top (a block freed just
    // below the top extends upward instead of being left as a hole under the new block).
    const last = this.free[this.free.length - 1];
    const off = last !== undefined && last[0] + last[1] === this.top ? this.free.pop()![0] : this.top;
    this.top = off + size;
    const need = this.top + ARENA_SLACK;
    if (need > this.memory.buffer.byteLength) {
      this.memory.grow(Math.ceil((need - this.memory.buffer.byteLength) / PAGE));
    }
    this.sizes.set(off, size);
    this.journal?.push(nFloats, off);
    return off;
  }

  /**
   * The free list and the top as a string. alloc() depends on nothing else, and release() on the
   * block's size besides: two passes that start from the same state and allocate and release the
   * same sizes in the same order get the same offsets.
   */
  state(): string {
    return `${this.top}:${this.free.join(';')}`;
  }

  /** A new block holding a copy of `data`; returns its byte offset. */
  put(data: Float32Array): number {
    const p = this.alloc(data.length);
    this.f32().set(data, p / 4);
    return p;
  }

  release(offset: number): void {
    const size = this.sizes.get(offset);
    if (size === undefined) throw new Error(`arena: release of ${offset}, which is not an allocated block`);
    this.sizes.delete(offset);
    this.journal?.push(JOURNAL_RELEASE, offset);
    let i = 0;
    while (i < this.free.length && this.free[i]![0] < offset) i++;
    this.free.splice(i, 0, [offset, size]);
    // Coalesce with the next, then the previous neighbour.
    const next = this.free[i + 1];
    if (next !== undefined && offset + size === next[0]) {
      this.free[i]![1] += next[1];
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev !== undefined && prev[0] + prev[1] === offset) {
      prev[1] += this.free[i]![1];
      this.free.splice(i, 1);
    }
  }

  /** All of memory as float32 (refreshed after growth: a grown memory has a new buffer). */
  f32(): Float32Array {
    this.journal?.push(JOURNAL_VIEW, 0);
    if (this.view.buffer !== this.memory.buffer || this.view.byteLength !== this.memory.buffer.byteLength) {
      this.view = new Float32Array(this.memory.buffer);
    }
    return this.view;
  }

  /** n floats at a byte offset, as a view (not a copy). */
  floats(offset: number, n: number): Float32Array {
    this.journal?.push(JOURNAL_VIEW, offset);
    return new Float32Array(this.memory.buffer, offset, n);
  }
}
