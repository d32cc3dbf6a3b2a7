// How a tensor lives on the gpu.js backend: one texture / buffer / array per run of leading
// channels. A tensor that fits the mode's limit on one texture or buffer has one part; a larger
// one is split along channels (chunk a power of two, so that the parts of tensors of different
// sizes nest). The arithmetic of that split, and reading parts back into one Float32Array.
import { formatShape, numel } from '../tensor.js';

/** What a gpu.js kernel returns with pipeline on: a Texture (GL), a buffer handle (webgpu), arrays (cpu, webasm). */
export type DeviceValue = unknown;

/** One texture / buffer / array: a run of leading channels of a tensor (or the whole tensor). */
export interface GpuPart {
  /** the part's own shape: (channels in this part, H, W), or the whole shape */
  readonly shape: readonly number[];
  readonly value: Promise<DeviceValue>;
  /** launches and reads that use this part: it is freed once they have all run */
  readonly readers: Promise<unknown>[];
  /** values the device holds when more than the shape's (a padded ROWS_LAYOUT slab): the readback drops the rest */
  readonly stored?: number;
  /** made by a size's kernel and not yet freed (counted in openParts: no eviction while any is open) */
  open?: boolean;
}

/**
 * A tensor on the gpu.js backend. When it fits the mode's limit on one texture or buffer it has
 * one part; otherwise it is split along channels into parts of `chunk` channels (the last may
 * be shorter), chunk a power of two so that the parts of tensors of different sizes nest: a
 * part of the smaller chunk always lies inside one part of the larger.
 */
export interface GpuTensor {
  readonly shape: readonly number[];
  readonly chunk: number;
  readonly parts: readonly GpuPart[];
  released: boolean;
}
/** Channels per part for a shape: all of them when it fits, else the largest power of two that fits. */
export function chunkFor(shape: readonly number[], limit: number, who: string): number {
  const c = shape[0]!;
  const per = numel(shape) / c;
  if (c * per <= limit) return c;
  if (per > limit) {
    throw new Error(`${who}: one channel of ${formatShape(shape)} (${per} values) exceeds the limit of ` +
      `${limit} values per texture/buffer; spatial tiling is not implemented`);
  }
  return 2 ** Math.floor(Math.log2(Math.floor(limit / per)));
}

/** The chunk of an output that reads inputs channel by channel: no part may straddle theirs. */
export function alignedChunk(shape: readonly number[], inputs: readonly GpuTensor[], limit: number, who: string): number {
  let chunk = chunkFor(shape, limit, who);
  for (const t of inputs) if (t.parts.length > 1) chunk = Math.min(chunk, t.chunk);
  return chunk;
}

/** Where channel c of t lives: its part, the channel's offset inside it, and the channels left in that part. */
export function locate(t: GpuTensor, c: number): { part: GpuPart; off: number; left: number } {
  const i = Math.floor(c / t.chunk);
  const part = t.parts[i]!;
  return { part, off: c - i * t.chunk, left: part.shape[0]! - (c - i * t.chunk) };
}

/** Builds a tensor of `shape` from its parts, one launch per part of `chunk` channels. */
export function byParts(shape: readonly number[], chunk: number, make: (base: number, count: number) => GpuPart): GpuTensor {
  const parts: GpuPart[] = [];
  for (let base = 0; base < shape[0]!; base += chunk) parts.push(make(base, Math.min(chunk, shape[0]! - base)));
  return { shape: [...shape], chunk, parts, released: false };
}

/** A tensor of one part. */
export function whole(part: GpuPart): GpuTensor {
  return { shape: part.shape, chunk: part.shape[0]!, parts: [part], released: false };
}

/** The one part of an unsplit tensor (ops that have no split form: head permute, softmax, cat of whole tensors). */
export function single(t: GpuTensor, what: string, who: string): GpuPart {
  if (t.parts.length !== 1) throw new Error(`${who}: ${what} of a split tensor ${formatShape(t.shape)} is not supported`);
  return t.parts[0]!;
}

/** Flattens what gpu.js returns (Float32Array, rows of Float32Array, planes of rows) into out. */
export function flattenInto(v: unknown, out: Float32Array, offset: number, limit = out.length): number {
  if (v instanceof Float32Array) {
    if (offset < limit) out.set(v.length <= limit - offset ? v : v.subarray(0, limit - offset), offset);
    return offset + v.length;
  }
  if (ArrayBuffer.isView(v)) {
    const a = v as unknown as ArrayLike<number>;
    for (let i = 0; i < a.length && offset + i < limit; i++) out[offset + i] = a[i]!;
    return offset + a.length;
  }
  if (Array.isArray(v)) {
    for (const item of v) offset = flattenInto(item, out, offset, limit);
    return offset;
  }
  throw new Error(`gpujs: unexpected kernel result ${Object.prototype.toString.call(v)}`);
}

