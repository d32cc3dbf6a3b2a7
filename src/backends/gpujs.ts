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
import type { KernelSpec } from '../ops/gpu_kernel.js';
import { headPermuteSpec } from '../ops/head_permute.gpu.js';
import { interpolateNearestSpec } from '../ops/interpolate_nearest.gpu.js';
import { leakyReluSpec } from '../ops/leaky_relu.gpu.js';
import { maxPool2dSpec } from '../ops/max_pool2d.gpu.js';
import { softmaxSpec } from '../ops/softmax.gpu.js';
import { formatShape, numel, type Tensor } from '../tensor.js';
import type { GPU } from 'gpu.js';
import { chooseAutoMode, createGpu, modeLimits, type GpuJsMode, type ModeLimits } from './gpu_instance.js';
import { GpuDevice, type GpuJsStats } from './gpujs_device.js';
import { alignedChunk, byParts, chunkFor, flattenInto, locate, single, whole, type GpuPart, type GpuTensor } from './gpujs_parts.js';
import { lowerModel, type LoweredConv } from './lowering.js';

export { KERNEL_SIZES_KEPT, type GpuJsStats } from './gpujs_device.js';
export type { GpuPart, GpuTensor } from './gpujs_parts.js';

export type GpuJsVariant = 'fused' | 'reference';

interface PreparedConv {
  l: LoweredConv;
  w: GpuPart;
  b: GpuPart;
  /** reference variant: the batch norm's per-channel affine map */
  bn: { scale: GpuPart; shift: GpuPart } | null;
}

export class GpuJsBackend implements Backend<GpuTensor> {
  readonly name: string;
  /** Why this mode: 'requested', or for 'auto' the mode it got and why the better ones fell back. */
  why = 'requested';
  private readonly dev: GpuDevice;
  private readonly prepared = new Map<ConvBnAct, PreparedConv>();
  /** Activations are split into parts of at most this many values (the mode's limit unless lowered for tests). */
  private splitLimit = Infinity;
  /** Most slabs (z indices) of a ROWS_LAYOUT output: WebGPU's workgroups per dimension, unless lowered for tests. */
  private maxSlabs = Infinity;
  /** Settles when dispose() has deleted every texture/buffer and destroyed the kernels and context. */
  whenDisposed: Promise<void> = Promise.resolve();
  private disposed = false;

  private constructor(
    readonly mode: GpuJsMode,
    readonly gpu: GPU,
    readonly limits: ModeLimits,
    readonly variant: GpuJsVariant,
  ) {
    this.name = `gpujs-${mode}${variant === 'reference' ? '-reference' : ''}`;
    this.dev = new GpuDevice(this.name, mode, gpu, limits);
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

  /** Launches, readbacks, uploads, live device objects, kernels compiled and evicted. */
  get stats(): GpuJsStats {
    return this.dev.stats;
  }

  /** Compiled kernels held now. */
  get kernelCount(): number {
    return this.dev.kernelCount;
  }

  /** Waits until every launch and deletion issued so far has run (for leak checks and timing). */
  settle(): Promise<void> {
    return this.dev.settle();
  }

  private launch(spec: KernelSpec, args: GpuPart[]): GpuPart {
    return this.dev.launch(spec, args);
  }

  private free(p: GpuPart): void {
    this.dev.free(p);
  }

  private check(...ts: GpuTensor[]): void {
    for (const t of ts) if (t.released) throw new Error(`${this.name}: a released tensor ${formatShape(t.shape)} is used`);
  }

  private chunkFor(shape: readonly number[]): number {
    return chunkFor(shape, this.splitLimit, this.name);
  }

  private alignedChunk(shape: readonly number[], inputs: readonly GpuTensor[]): number {
    return alignedChunk(shape, inputs, this.splitLimit, this.name);
  }

  // ---- kernels -------------------------------------------------------------------------------

  /** LeakyReLU as its own kernel, part by part (the reference variant). */
  private leakyParts(x: GpuTensor, slope: number): GpuTensor {
    const y = byParts(x.shape, x.chunk, (base) => {
      const p = locate(x, base).part;
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
        this.prepared.set(unit, { l, w: this.dev.uploadFlat(f.weight), b: this.dev.uploadFlat(f.bias), bn: null });
      } else {
        const affine = bn === null ? null : batchNormAffine(bn);
        this.prepared.set(unit, {
          l, w: this.dev.uploadFlat(conv.weight.data), b: this.dev.uploadFlat(conv.bias?.data ?? new Float32Array(conv.out_channels)),
          bn: affine === null ? null : { scale: this.dev.uploadFlat(affine.scale), shift: this.dev.uploadFlat(affine.shift) },
        });
      }
    }
    // Uploads run now, not during the first forward pass.
    await Promise.all([...this.prepared.values()].flatMap((p) => [p.w.value, p.b.value, p.bn?.scale.value, p.bn?.shift.value]));
  }

  upload(x: Tensor): GpuTensor {
    if (x.shape.length !== 3) throw new Error(`${this.name}: upload expects (C, H, W), got ${formatShape(x.shape)}`);
    const [, h, w] = x.shape as [number, number, number];
    this.dev.useInputSize(h, w);
    this.stats.uploads++;
    return byParts(x.shape, this.chunkFor(x.shape), (base, count) => this.dev.uploadInput(x.data.subarray(base * h * w, (base + count) * h * w), [count, h, w]));
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
    if (this.dev.pendingError !== null) {
      const e = this.dev.pendingError;
      this.dev.pendingError = null;
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
      y = byParts(outShape, x.parts.length > 1 ? x.chunk : outShape[0], (base, count) => {
        const part = locate(x, base).part;
        const spec = conv2dSpec(part.shape, conv.weight.shape, attrs, fusedSlope, { ocBase: base, ocCount: count, icBase: base, icCount: count, hasPrev: false, last: true });
        return this.launch(spec, [part, p.w, p.b]);
      });
    } else {
      // Every output part sums over every input part, the partial sums chained through prev.
      y = byParts(outShape, this.chunkFor(outShape), (ocBase, ocCount) => {
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
      const z = byParts(y.shape, y.chunk, (base) => {
        const part = locate(y, base).part;
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
    const y = byParts(a.shape, this.alignedChunk(a.shape, [a, b]), (base, count) => {
      const pa = locate(a, base), pb = locate(b, base);
      return this.launch(addSpec(a.shape, b.shape, fusedSlope, { count, aOff: pa.off, bOff: pb.off }), [pa.part, pb.part]);
    });
    return fusedSlope === null && slope !== null ? this.leakyParts(y, slope) : y;
  }

  interpolateNearest(x: GpuTensor, h: number, w: number): GpuTensor {
    this.check(x);
    const [c, hIn, wIn] = x.shape as [number, number, number];
    const rows = this.dev.indexTable(hIn, h), cols = this.dev.indexTable(wIn, w);
    return byParts([c, h, w], this.alignedChunk([c, h, w], [x]), (base, count) => {
      const px = locate(x, base);
      return this.launch(interpolateNearestSpec(x.shape, h, w, { count, xOff: px.off }), [px.part, rows, cols]);
    });
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
      y = byParts(shape, chunk, (base, count) => {
        // The segments of [base, base + count): pieces of input parts, in order.
        const segs: { part: GpuPart; off: number; count: number }[] = [];
        let start = 0;
        for (const t of xs) {
          const lo = Math.max(base, start), hi = Math.min(base + count, start + t.shape[0]!);
          for (let c = lo; c < hi;) {
            const at = locate(t, c - start);
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
    const parts = xs.map((t) => single(t, 'cat', this.name));
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

  headPermute(x: GpuTensor, k: number): GpuTensor {
    this.check(x);
    return whole(this.launch(headPermuteSpec(x.shape, k, this.maxSlabs), [single(x, 'head permute', this.name)]));
  }

  catRows(xs: GpuTensor[]): GpuTensor {
    this.check(...xs);
    return this.catWhole(xs, null);
  }

  softmax(x: GpuTensor): GpuTensor {
    this.check(x);
    return whole(this.launch(softmaxSpec(x.shape, this.maxSlabs), [single(x, 'softmax', this.name)]));
  }

  private freeWeights(): void {
    for (const p of this.prepared.values()) {
      for (const t of [p.w, p.b, p.bn?.scale, p.bn?.shift]) if (t !== undefined) this.free(t);
    }
    this.prepared.clear();
    this.dev.freeTables();
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
    this.whenDisposed = this.dev.dispose();
  }
}
