// The gpu.js backend: every layer a gpu.js kernel (src/ops/*.gpu.ts), tensors resident on the
// device between layers (textures on GL, storage buffers on webgpu, typed arrays on cpu/webasm,
// which have no device memory), weights uploaded once at prepare(). Only what read() is asked
// for comes back: loc, conf, landms, and tapped module outputs when a test asks.
//
// Variants, as for the CPU backend: 'fused' (batch norm folded into the convolution at load
// time, bias and activation fused into the conv kernel) and 'reference' (conv, batch norm and
// activation as three kernels, as PyTorch runs them).
//
// A handle's value is a Promise: webgpu kernels resolve asynchronously, and chaining every
// launch on its inputs' promises keeps one code path for all modes (on the synchronous modes
// the promises are already settled and the chain costs a microtask per launch). release() waits
// for every launch that reads the tensor before its texture or buffer is deleted.
import type { Backend } from '../backend.js';
import type { ConvBnAct, Module } from '../model/modules.js';
import type { Slope } from '../ops/activation.js';
import { addSpec } from '../ops/add.gpu.js';
import { batchNorm2dSpec, batchNormAffine } from '../ops/batch_norm2d.gpu.js';
import { catSegmentsSpec, catSpec } from '../ops/cat.gpu.js';
import { conv2dSpec } from '../ops/conv2d.gpu.js';
import { conv2dOutputShape } from '../ops/conv2d.js';
import { loopCap, type KernelSpec } from '../ops/gpu_kernel.js';
import { headPermuteSpec } from '../ops/head_permute.gpu.js';
import { interpolateNearestSpec, nearestIndexTable } from '../ops/interpolate_nearest.gpu.js';
import { leakyReluSpec } from '../ops/leaky_relu.gpu.js';
import { maxPool2dSpec } from '../ops/max_pool2d.gpu.js';
import { softmaxSpec } from '../ops/softmax.gpu.js';
import { copySpec } from '../ops/upload.gpu.js';
import { formatShape, numel, type Tensor } from '../tensor.js';
import { Input, type GPU, type IKernelRunShortcut } from 'gpu.js';
import { chooseAutoMode, createGpu, modeLimits, type GpuJsMode, type ModeLimits } from './gpu_instance.js';
import { lowerModel, type LoweredConv } from './lowering.js';

export type GpuJsVariant = 'fused' | 'reference';

/** What a gpu.js kernel returns with pipeline on: a Texture (GL), a buffer handle (webgpu), arrays (cpu, webasm). */
type DeviceValue = unknown;

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
/** Counters for the report: launches and readbacks per forward pass, live device objects. */
export interface GpuJsStats {
  launches: number;
  readbacks: number;
  uploads: number;
  /** device objects (textures / buffers) created and not yet deleted */
  live: number;
  kernelsCompiled: number;
  /** kernels destroyed because their input size fell out of the KERNEL_SIZES_KEPT most recent */
  kernelsEvicted: number;
}

interface PreparedConv {
  l: LoweredConv;
  w: GpuPart;
  b: GpuPart;
  /** reference variant: the batch norm's per-channel affine map */
  bn: { scale: GpuPart; shift: GpuPart } | null;
}

function isDeletable(v: unknown): v is { delete(): void } {
  return typeof v === 'object' && v !== null && typeof (v as { delete?: unknown }).delete === 'function';
}

/** Flattens what gpu.js returns (Float32Array, rows of Float32Array, planes of rows) into out. */
function flattenInto(v: unknown, out: Float32Array, offset: number, limit = out.length): number {
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

/** Input sizes whose compiled kernels are kept (see useInputSize): a camera's size and a photo's. */
export const KERNEL_SIZES_KEPT = 1;

function largestPowerOfTwo(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

export class GpuJsBackend implements Backend<GpuTensor> {
  readonly name: string;
  readonly stats: GpuJsStats = { launches: 0, readbacks: 0, uploads: 0, live: 0, kernelsCompiled: 0, kernelsEvicted: 0 };
  /** Why this mode: 'requested', or for 'auto' the mode it got and why the better ones fell back. */
  why = 'requested';
  private readonly kernels = new Map<string, IKernelRunShortcut>();
  /** The input size (HxW) that last used each kernel; '' for kernels that made resident data (weights, index tables): never evicted. */
  private readonly kernelSize = new Map<string, string>();
  /** The input size that last used each index table (freed with that size's kernels). */
  private readonly tableSize = new Map<string, string>();
  /** Input sizes whose kernels are compiled, least recently used first. */
  private sizes: string[] = [];
  /** Parts made by a size's kernels and not freed yet: destroying their kernel would delete them. */
  private openParts = 0;
  private currentSize = '';
  private readonly prepared = new Map<ConvBnAct, PreparedConv>();
  private readonly indexTables = new Map<string, GpuPart>();
  private disposed = false;
  /** Activations are split into parts of at most this many values (the mode's limit unless lowered for tests). */
  private splitLimit = Infinity;
  /** Most slabs (z indices) of a ROWS_LAYOUT output: WebGPU's workgroups per dimension, unless lowered for tests. */
  private maxSlabs = Infinity;
  /** deletions waiting for the launches that read their tensor */
  private readonly freeing = new Set<Promise<void>>();
  /** Settles when dispose() has deleted every texture/buffer and destroyed the kernels and context. */
  whenDisposed: Promise<void> = Promise.resolve();
  /** The first error of a launch nobody awaited (a release chain): rethrown by the next read. */
  private pendingError: unknown = null;

  private constructor(
    readonly mode: GpuJsMode,
    readonly gpu: GPU,
    readonly limits: ModeLimits,
    readonly variant: GpuJsVariant,
  ) {
    this.name = `gpujs-${mode}${variant === 'reference' ? '-reference' : ''}`;
    this.splitLimit = limits.maxElements;
    this.maxSlabs = limits.maxWorkgroupsPerDimension;
  }

  /**
   * Creates the backend on a gpu.js mode; throws, with the reason, when the mode cannot run here.
   * 'auto' takes the first mode of AUTO_ORDER that runs and says in `why` which it got and why
   * the ones before it were skipped. `maxElements` lowers the per-texture limit (tests use it to
   * exercise the split path on small tensors).
   */
  static async create(mode: GpuJsMode | 'auto', variant: GpuJsVariant = 'fused', options: { maxElements?: number; maxSlabs?: number } = {}): Promise<GpuJsBackend> {
    const chosen = mode === 'auto' ? await chooseAutoMode() : { mode, why: 'requested' };
    const gpu = await createGpu(chosen.mode);
    const limits = await modeLimits(chosen.mode);
    const be = new GpuJsBackend(chosen.mode, gpu, limits, variant);
    if (options.maxElements !== undefined) be.splitLimit = Math.min(limits.maxElements, options.maxElements);
    if (options.maxSlabs !== undefined) be.maxSlabs = Math.min(limits.maxWorkgroupsPerDimension, options.maxSlabs);
    be.why = chosen.why;
    return be;
  }

  // ---- kernels -------------------------------------------------------------------------------

  /** Compiled kernels held now. */
  get kernelCount(): number {
    return this.kernels.size;
  }

  private kernel(spec: KernelSpec, argShapes: readonly (readonly number[])[]): IKernelRunShortcut {
    const key = `${spec.name}|${spec.output.join('x')}|${JSON.stringify(spec.constants)}|${argShapes.map((s) => s.join('x')).join(',')}`;
    let k = this.kernels.get(key);
    if (this.kernelSize.get(key) !== '') this.kernelSize.set(key, this.currentSize);
    if (k === undefined) {
      k = this.gpu.createKernel(spec.source as never, {
        output: spec.output,
        constants: spec.constants,
        precision: 'single',
        tactic: 'precision',
        pipeline: true,
        immutable: true,
        loopMaxIterations: loopCap(spec.constants),
      } as never) as IKernelRunShortcut;
      this.kernels.set(key, k);
      this.stats.kernelsCompiled++;
    }
    return k;
  }

  /** Runs a kernel once its inputs have resolved; the output is one new resident part. */
  private launch(spec: KernelSpec, args: GpuPart[]): GpuPart {
    if (this.disposed) throw new Error(`${this.name}: used after dispose()`);
    const n = spec.output.reduce((p, q) => p * q, 1);
    if (n > this.limits.maxElements) {
      throw new Error(`${this.name}: ${spec.name} output [${spec.output.join(', ')}] has ${n} values, over this mode's ` +
        `limit of ${this.limits.maxElements} per texture/buffer`);
    }
    const kernel = this.kernel(spec, args.map((t) => t.shape));
    const shape = spec.shape ?? [...spec.output].reverse();
    const value = Promise.all(args.map((t) => t.value)).then(async (vals) => {
      this.stats.launches++;
      const out = await (kernel as unknown as (...a: unknown[]) => unknown)(...vals);
      if (isDeletable(out)) this.stats.live++;
      return out;
    });
    for (const t of args) t.readers.push(value.catch(() => undefined));
    const open = this.currentSize !== '';
    if (open) this.openParts++;
    return n === numel(shape) ? { shape, value, readers: [], open } : { shape, value, readers: [], stored: n, open };
  }

  /** A host array made resident (weights, index tables): one upload, counted apart from launches. */
  private uploadFlat(data: Float32Array): GpuPart {
    this.stats.uploads++;
    const src: GpuPart = { shape: [data.length], value: Promise.resolve(data), readers: [] };
    if (this.mode === 'cpu' || this.mode === 'webasm') return src; // no device memory to copy into
    const size = this.currentSize;
    this.currentSize = ''; // its kernel made resident data: never evicted (destroying it would delete the data)
    try {
      const t = this.launch(copySpec([data.length]), [src]);
      this.stats.launches--; // an upload, not a forward-pass launch
      return t;
    } finally {
      this.currentSize = size;
    }
  }

  /**
   * A forward pass at input size h x w begins. Kernels are compiled per shape, so every new
   * image size compiles a new set (65 for mobile0.25) holding textures, buffers or, on webasm,
   * a WebAssembly memory each: without a bound, a page that detects photos of many sizes would
   * hold them all. The sets of the KERNEL_SIZES_KEPT most recent sizes stay; older sets are
   * destroyed once the deletions issued before have run (a kernel's destroy() empties its
   * texture pool, so it must come after them, as in dispose()), and their nearest-upsampling
   * index tables freed; not while a tensor made by a size's kernels is still held. The copy kernels that uploaded resident data stay: one per length.
   */
  private useInputSize(h: number, w: number): void {
    const size = `${h}x${w}`;
    if (size === this.currentSize) return;
    this.currentSize = size;
    this.sizes = [...this.sizes.filter((s) => s !== size), size];
    // A tensor of an older size still held (a caller's own upload, not a forward pass) keeps its
    // kernels alive: a kernel's destroy() deletes what it made. The next size change tries again.
    while (this.sizes.length > KERNEL_SIZES_KEPT && this.openParts === 0) {
      const old = this.sizes.shift()!;
      const evicted: IKernelRunShortcut[] = [];
      for (const [key, s] of this.kernelSize) {
        if (s !== old) continue;
        evicted.push(this.kernels.get(key)!);
        this.kernels.delete(key);
        this.kernelSize.delete(key);
      }
      this.stats.kernelsEvicted += evicted.length;
      for (const [key, s] of this.tableSize) {
        if (s !== old) continue;
        this.free(this.indexTables.get(key)!);
        this.indexTables.delete(key);
        this.tableSize.delete(key);
      }
      // destroy(false): the context stays in use. With true, gpu.js forgets the shared canvas's
      // cached limits, and the kernels compiled after that read upsampled maps wrongly (measured
      // on headlessgl: fpn.merge1 off by 0.6 after an eviction; exact with false).
      const done = Promise.all([...this.freeing]).then(() => {
        for (const k of evicted) (k as unknown as { destroy(removeCanvasReferences?: boolean): void }).destroy(false);
      }).catch((e: unknown) => { this.pendingError ??= e; });
      this.freeing.add(done);
      void done.then(() => this.freeing.delete(done));
    }
  }

  // ---- splitting -----------------------------------------------------------------------------

  /** Channels per part for a shape: all of them when it fits, else the largest power of two that fits. */
  private chunkFor(shape: readonly number[]): number {
    const c = shape[0]!;
    const per = numel(shape) / c;
    if (c * per <= this.splitLimit) return c;
    if (per > this.splitLimit) {
      throw new Error(`${this.name}: one channel of ${formatShape(shape)} (${per} values) exceeds the limit of ` +
        `${this.splitLimit} values per texture/buffer; spatial tiling is not implemented`);
    }
    return largestPowerOfTwo(Math.floor(this.splitLimit / per));
  }

  /** The chunk of an output that reads inputs channel by channel: no part may straddle theirs. */
  private alignedChunk(shape: readonly number[], inputs: readonly GpuTensor[]): number {
    let chunk = this.chunkFor(shape);
    for (const t of inputs) if (t.parts.length > 1) chunk = Math.min(chunk, t.chunk);
    return chunk;
  }

  /** Where channel c of t lives: part index and channel offset inside it. */
  private locate(t: GpuTensor, c: number): { part: GpuPart; off: number; left: number } {
    const i = Math.floor(c / t.chunk);
    const part = t.parts[i]!;
    return { part, off: c - i * t.chunk, left: part.shape[0]! - (c - i * t.chunk) };
  }

  /** Builds a tensor of `shape` from its parts, one launch per part of `chunk` channels. */
  private byParts(shape: readonly number[], chunk: number, make: (base: number, count: number) => GpuPart): GpuTensor {
    const parts: GpuPart[] = [];
    for (let base = 0; base < shape[0]!; base += chunk) parts.push(make(base, Math.min(chunk, shape[0]! - base)));
    return { shape: [...shape], chunk, parts, released: false };
  }

  private single(t: GpuTensor, what: string): GpuPart {
    if (t.parts.length !== 1) throw new Error(`${this.name}: ${what} of a split tensor ${formatShape(t.shape)} is not supported`);
    return t.parts[0]!;
  }

  private check(...ts: GpuTensor[]): void {
    for (const t of ts) if (t.released) throw new Error(`${this.name}: a released tensor ${formatShape(t.shape)} is used`);
  }

  /** LeakyReLU as its own kernel, part by part (the reference variant). */
  private leakyParts(x: GpuTensor, slope: number): GpuTensor {
    const y = this.byParts(x.shape, x.chunk, (base) => {
      const p = this.locate(x, base).part;
      return this.launch(leakyReluSpec(p.shape, slope), [p]);
    });
    this.release(x);
    return y;
  }

  // ---- Backend -------------------------------------------------------------------------------

  async prepare(model: Module): Promise<void> {
    this.freeWeights();
    for (const [unit, l] of lowerModel(model)) {
      const { conv, bn } = unit;
      if (this.variant === 'fused') {
        const f = l.folded();
        this.prepared.set(unit, { l, w: this.uploadFlat(f.weight), b: this.uploadFlat(f.bias), bn: null });
      } else {
        const affine = bn === null ? null : batchNormAffine(bn);
        this.prepared.set(unit, {
          l, w: this.uploadFlat(conv.weight.data), b: this.uploadFlat(conv.bias?.data ?? new Float32Array(conv.out_channels)),
          bn: affine === null ? null : { scale: this.uploadFlat(affine.scale), shift: this.uploadFlat(affine.shift) },
        });
      }
    }
    // Uploads run now, not during the first forward pass.
    await Promise.all([...this.prepared.values()].flatMap((p) => [p.w.value, p.b.value, p.bn?.scale.value, p.bn?.shift.value]));
  }

  upload(x: Tensor): GpuTensor {
    if (x.shape.length !== 3) throw new Error(`${this.name}: upload expects (C, H, W), got ${formatShape(x.shape)}`);
    const [, h, w] = x.shape as [number, number, number];
    this.useInputSize(h, w);
    this.stats.uploads++;
    return this.byParts(x.shape, this.chunkFor(x.shape), (base, count) => {
      const data = x.data.subarray(base * h * w, (base + count) * h * w);
      const src: GpuPart = { shape: [count, h, w], value: Promise.resolve(new Input(data as unknown as number[], [w, h, count])), readers: [] };
      return this.launch(copySpec([count, h, w]), [src]);
    });
  }

  async read(x: GpuTensor): Promise<Tensor> {
    this.check(x);
    const data = new Float32Array(numel(x.shape));
    const per = numel(x.shape) / x.shape[0]!;
    const reads = x.parts.map((part, i) => {
      const p = part.value.then(async (v) => {
        this.stats.readbacks++;
        const arr = typeof (v as { toArray?: unknown }).toArray === 'function' ? await (v as { toArray(): unknown }).toArray() : v;
        const start = i * x.chunk * per;
        const end = flattenInto(arr, data, start, start + numel(part.shape));
        if (end !== start + (part.stored ?? numel(part.shape))) throw new Error(`${this.name}: read ${end} values into ${formatShape(x.shape)}`);
      });
      part.readers.push(p.catch(() => undefined));
      return p;
    });
    if (this.pendingError !== null) {
      const e = this.pendingError;
      this.pendingError = null;
      throw e;
    }
    await Promise.all(reads);
    return { shape: [...x.shape], data };
  }

  shape(x: GpuTensor): readonly number[] {
    return x.shape;
  }

  release(x: GpuTensor): void {
    if (x.released) return;
    x.released = true;
    for (const p of x.parts) this.free(p);
  }

  private free(p: GpuPart): void {
    if (p.open === true) {
      p.open = false;
      this.openParts--;
    }
    const done = Promise.all([p.value, ...p.readers]).then(([v]) => {
      if (isDeletable(v)) {
        v.delete();
        this.stats.live--;
      }
    }, (e) => { this.pendingError ??= e; });
    this.freeing.add(done);
    void done.then(() => this.freeing.delete(done));
  }

  convBnAct(x: GpuTensor, unit: ConvBnAct): GpuTensor {
    this.check(x);
    const p = this.prepared.get(unit);
    if (p === undefined) throw new Error(`${this.name}: ${unit.path} was not prepared (call prepare() with the model)`);
    const { conv, slope } = unit;
    const attrs = { stride: conv.stride, padding: conv.padding, groups: conv.groups };
    const fusedSlope = this.variant === 'fused' ? slope : null;
    const outShape = conv2dOutputShape(x.shape, conv.weight.shape, attrs);
    let y: GpuTensor;
    if (p.l.kind === 'depthwise') {
      // Channel by channel: the output keeps the input's parts (it is never larger).
      y = this.byParts(outShape, x.parts.length > 1 ? x.chunk : outShape[0], (base, count) => {
        const part = this.locate(x, base).part;
        const spec = conv2dSpec(part.shape, conv.weight.shape, attrs, fusedSlope, { ocBase: base, ocCount: count, icBase: base, icCount: count, hasPrev: false, last: true });
        return this.launch(spec, [part, p.w, p.b]);
      });
    } else {
      // Every output part sums over every input part, the partial sums chained through prev.
      y = this.byParts(outShape, this.chunkFor(outShape), (ocBase, ocCount) => {
        let prev: GpuPart | null = null;
        x.parts.forEach((part, i) => {
          const spec = conv2dSpec(part.shape, conv.weight.shape, attrs, fusedSlope, {
            ocBase, ocCount, icBase: i * x.chunk, icCount: part.shape[0]!, hasPrev: prev !== null, last: i === x.parts.length - 1,
          });
          const next = this.launch(spec, [part, p.w, p.b, prev ?? part]);
          if (prev !== null) this.free(prev);
          prev = next;
        });
        return prev!;
      });
    }
    if (this.variant === 'fused') return y;
    if (p.bn !== null) {
      const scale = p.bn.scale, shift = p.bn.shift;
      const z = this.byParts(y.shape, y.chunk, (base) => {
        const part = this.locate(y, base).part;
        return this.launch(batchNorm2dSpec(part.shape, base), [part, scale, shift]);
      });
      this.release(y);
      y = z;
    }
    return slope === null ? y : this.leakyParts(y, slope);
  }

  add(a: GpuTensor, b: GpuTensor, slope: Slope): GpuTensor {
    this.check(a, b);
    const fusedSlope = this.variant === 'fused' ? slope : null;
    const y = this.byParts(a.shape, this.alignedChunk(a.shape, [a, b]), (base, count) => {
      const pa = this.locate(a, base), pb = this.locate(b, base);
      return this.launch(addSpec(a.shape, b.shape, fusedSlope, { count, aOff: pa.off, bOff: pb.off }), [pa.part, pb.part]);
    });
    return fusedSlope === null && slope !== null ? this.leakyParts(y, slope) : y;
  }

  interpolateNearest(x: GpuTensor, h: number, w: number): GpuTensor {
    this.check(x);
    const [c, hIn, wIn] = x.shape as [number, number, number];
    const rows = this.indexTable(hIn, h), cols = this.indexTable(wIn, w);
    return this.byParts([c, h, w], this.alignedChunk([c, h, w], [x]), (base, count) => {
      const px = this.locate(x, base);
      return this.launch(interpolateNearestSpec(x.shape, h, w, { count, xOff: px.off }), [px.part, rows, cols]);
    });
  }

  /** Nearest-neighbour source indices for one axis, uploaded once per (in, out) size pair. */
  private indexTable(inSize: number, outSize: number): GpuPart {
    const key = `${inSize}->${outSize}`;
    let t = this.indexTables.get(key);
    if (t === undefined) {
      t = this.uploadFlat(nearestIndexTable(inSize, outSize));
      this.indexTables.set(key, t);
    }
    this.tableSize.set(key, this.currentSize);
    return t;
  }

  cat(xs: GpuTensor[], slope: Slope): GpuTensor {
    this.check(...xs);
    if (xs.length === 0) throw new Error(`${this.name}: cat of nothing`);
    const fusedSlope = this.variant === 'fused' ? slope : null;
    const [, h, w] = xs[0]!.shape as [number, number, number];
    const shape = [xs.reduce((n, t) => n + t.shape[0]!, 0), h, w];
    const chunk = this.alignedChunk(shape, xs);
    let y: GpuTensor;
    if (chunk === shape[0] && xs.every((t) => t.parts.length === 1)) {
      y = this.catWhole(xs, fusedSlope);
    } else {
      y = this.byParts(shape, chunk, (base, count) => {
        // The segments of [base, base + count): pieces of input parts, in order.
        const segs: { part: GpuPart; off: number; count: number }[] = [];
        let start = 0;
        for (const t of xs) {
          const lo = Math.max(base, start), hi = Math.min(base + count, start + t.shape[0]!);
          for (let c = lo; c < hi;) {
            const at = this.locate(t, c - start);
            const n = Math.min(at.left, hi - c);
            segs.push({ part: at.part, off: at.off, count: n });
            c += n;
          }
          start += t.shape[0]!;
        }
        const parts = segs.map((sg) => sg.part);
        return this.launch(catSegmentsSpec(h, w, segs, fusedSlope), [parts[0]!, parts[1] ?? parts[0]!, parts[2] ?? parts[0]!]);
      });
    }
    return fusedSlope === null && slope !== null ? this.leakyParts(y, slope) : y;
  }

  /** Unsplit inputs: up to three per kernel, longer lists folded three at a time. */
  private catWhole(xs: GpuTensor[], slope: Slope): GpuTensor {
    if (xs.length > 3) {
      const head = this.catWhole(xs.slice(0, 3), null);
      const y = this.catWhole([head, ...xs.slice(3)], slope);
      this.release(head);
      return y;
    }
    const parts = xs.map((t) => this.single(t, 'cat'));
    const spec = catSpec(xs.map((t) => t.shape), slope, this.maxSlabs);
    const part = this.launch(spec, [parts[0]!, parts[1] ?? parts[0]!, parts[2] ?? parts[0]!]);
    return { shape: part.shape, chunk: part.shape[0]!, parts: [part], released: false };
  }

  maxPool2d(x: GpuTensor, kernel: number, stride: number, padding: number): GpuTensor {
    this.check(x);
    const parts = x.parts.map((p) => this.launch(maxPool2dSpec(p.shape, kernel, stride, padding), [p]));
    const [, h, w] = parts[0]!.shape as [number, number, number];
    return { shape: [x.shape[0]!, h, w], chunk: x.chunk, parts, released: false };
  }

  private whole(part: GpuPart): GpuTensor {
    return { shape: part.shape, chunk: part.shape[0]!, parts: [part], released: false };
  }

  headPermute(x: GpuTensor, k: number): GpuTensor {
    this.check(x);
    return this.whole(this.launch(headPermuteSpec(x.shape, k, this.maxSlabs), [this.single(x, 'head permute')]));
  }

  catRows(xs: GpuTensor[]): GpuTensor {
    this.check(...xs);
    return this.catWhole(xs, null);
  }

  softmax(x: GpuTensor): GpuTensor {
    this.check(x);
    return this.whole(this.launch(softmaxSpec(x.shape, this.maxSlabs), [this.single(x, 'softmax')]));
  }

  private freeWeights(): void {
    for (const p of this.prepared.values()) {
      for (const t of [p.w, p.b, p.bn?.scale, p.bn?.shift]) if (t !== undefined) this.free(t);
    }
    for (const t of this.indexTables.values()) this.free(t);
    this.prepared.clear();
    this.indexTables.clear();
    this.tableSize.clear();
  }

  /** Waits until every launch and deletion issued so far has run (for leak checks and timing). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
  }

  /**
   * Frees the weights and every tensor still held, then destroys the kernels and the gpu.js
   * instance. The deletions wait for the launches that read them (gpu.js's Texture.delete()
   * returns a texture to its kernel's pool, which only Kernel.destroy() empties: the order
   * matters); `whenDisposed` settles when all of it has run.
   */
  dispose(): void {
    if (this.disposed) return;
    this.freeWeights();
    this.disposed = true;
    this.whenDisposed = Promise.all([...this.freeing]).then(async () => {
      for (const k of this.kernels.values()) (k as unknown as { destroy(removeCanvasReferences?: boolean): void }).destroy(true);
      this.kernels.clear();
      await this.gpu.destroy();
    });
  }
}
