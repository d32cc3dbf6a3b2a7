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
import { BatchNorm2d, Conv2d, namedModules, type ConvBnAct, type Module } from '../model/modules.js';
import type { Slope } from '../ops/activation.js';
import { addSpec } from '../ops/add.gpu.js';
import { batchNorm2dSpec, batchNormAffine } from '../ops/batch_norm2d.gpu.js';
import { foldBatchNorm } from '../ops/batch_norm2d.cpu.js';
import { catSpec } from '../ops/cat.gpu.js';
import { conv2dSpec } from '../ops/conv2d.gpu.js';
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

export type GpuJsVariant = 'fused' | 'reference';

/** What a gpu.js kernel returns with pipeline on: a Texture (GL), a buffer handle (webgpu), arrays (cpu, webasm). */
type DeviceValue = unknown;

/** A tensor on the gpu.js backend. */
export interface GpuTensor {
  readonly shape: readonly number[];
  readonly value: Promise<DeviceValue>;
  /** launches and reads that use this tensor: it is freed once they have all run */
  readonly readers: Promise<unknown>[];
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
}

interface PreparedConv {
  w: GpuTensor;
  b: GpuTensor;
  /** reference variant: the batch norm's per-channel affine map */
  bn: { scale: GpuTensor; shift: GpuTensor } | null;
}

function isDeletable(v: unknown): v is { delete(): void } {
  return typeof v === 'object' && v !== null && typeof (v as { delete?: unknown }).delete === 'function';
}

/** Flattens what gpu.js returns (Float32Array, rows of Float32Array, planes of rows) into out. */
function flattenInto(v: unknown, out: Float32Array, offset: number): number {
  if (v instanceof Float32Array) {
    out.set(v, offset);
    return offset + v.length;
  }
  if (ArrayBuffer.isView(v)) {
    const a = v as unknown as ArrayLike<number>;
    for (let i = 0; i < a.length; i++) out[offset + i] = a[i]!;
    return offset + a.length;
  }
  if (Array.isArray(v)) {
    for (const item of v) offset = flattenInto(item, out, offset);
    return offset;
  }
  throw new Error(`gpujs: unexpected kernel result ${Object.prototype.toString.call(v)}`);
}

export class GpuJsBackend implements Backend<GpuTensor> {
  readonly name: string;
  readonly stats: GpuJsStats = { launches: 0, readbacks: 0, uploads: 0, live: 0, kernelsCompiled: 0 };
  private readonly kernels = new Map<string, IKernelRunShortcut>();
  private readonly partner = new Map<Conv2d, BatchNorm2d | null>();
  private readonly prepared = new Map<Conv2d, PreparedConv>();
  private readonly indexTables = new Map<string, GpuTensor>();
  private disposed = false;
  /** The first error of a launch nobody awaited (a release chain): rethrown by the next read. */
  private pendingError: unknown = null;

  private constructor(
    readonly mode: GpuJsMode,
    readonly gpu: GPU,
    readonly limits: ModeLimits,
    readonly variant: GpuJsVariant,
  ) {
    this.name = `gpujs-${mode}${variant === 'reference' ? '-reference' : ''}`;
  }

  /** Why this mode: 'requested', or for 'auto' the mode it got and why the better ones fell back. */
  why = 'requested';

  /**
   * Creates the backend on a gpu.js mode; throws, with the reason, when the mode cannot run here.
   * 'auto' takes the first mode of AUTO_ORDER that runs and says in `why` which it got and why
   * the ones before it were skipped.
   */
  static async create(mode: GpuJsMode | 'auto', variant: GpuJsVariant = 'fused'): Promise<GpuJsBackend> {
    const chosen = mode === 'auto' ? await chooseAutoMode() : { mode, why: 'requested' };
    const gpu = await createGpu(chosen.mode);
    const be = new GpuJsBackend(chosen.mode, gpu, await modeLimits(chosen.mode), variant);
    be.why = chosen.why;
    return be;
  }

  // ---- kernels -------------------------------------------------------------------------------

  private kernel(spec: KernelSpec, argShapes: readonly (readonly number[])[]): IKernelRunShortcut {
    const key = `${spec.name}|${spec.output.join('x')}|${JSON.stringify(spec.constants)}|${argShapes.map((s) => s.join('x')).join(',')}`;
    let k = this.kernels.get(key);
    if (k === undefined) {
      const n = spec.output.reduce((p, q) => p * q, 1);
      if (n > this.limits.maxElements) {
        throw new Error(`${this.name}: ${spec.name} output [${spec.output.join(', ')}] has ${n} values, over this mode's ` +
          `limit of ${this.limits.maxElements} per texture/buffer (tensor splitting is not implemented yet)`);
      }
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

  /** Runs a kernel once its tensor inputs have resolved; the output is a new resident tensor. */
  private launch(spec: KernelSpec, inputs: GpuTensor[], extra: GpuTensor[] = []): GpuTensor {
    if (this.disposed) throw new Error(`${this.name}: used after dispose()`);
    const args = [...inputs, ...extra];
    for (const t of args) if (t.released) throw new Error(`${this.name}: ${spec.name} reads a released tensor ${formatShape(t.shape)}`);
    const kernel = this.kernel(spec, args.map((t) => t.shape));
    const shape = spec.shape ?? [...spec.output].reverse();
    const value = Promise.all(args.map((t) => t.value)).then(async (vals) => {
      this.stats.launches++;
      const out = await (kernel as unknown as (...a: unknown[]) => unknown)(...vals);
      if (isDeletable(out)) this.stats.live++;
      return out;
    });
    for (const t of args) t.readers.push(value.catch(() => undefined));
    return { shape, value, readers: [], released: false };
  }

  /** A host array made resident (weights, index tables): one upload, counted. */
  private uploadFlat(data: Float32Array): GpuTensor {
    this.stats.uploads++;
    const src: GpuTensor = { shape: [data.length], value: Promise.resolve(data), readers: [], released: false };
    if (this.mode === 'cpu' || this.mode === 'webasm') return src; // no device memory to copy into
    const t = this.launch(copySpec([data.length]), [src]);
    this.stats.launches--; // an upload, not a forward-pass launch
    return t;
  }

  // ---- Backend -------------------------------------------------------------------------------

  async prepare(model: Module): Promise<void> {
    this.freeWeights();
    // A Conv2d's batch norm is its next sibling in registration order (as in the CPU backend).
    for (const [, m] of namedModules(model)) {
      const kids = m.children().map(([, c]) => c);
      kids.forEach((c, i) => {
        if (!(c instanceof Conv2d)) return;
        const next = kids[i + 1];
        this.partner.set(c, next instanceof BatchNorm2d ? next : null);
      });
    }
    for (const [conv, bn] of this.partner) {
      const bias = conv.bias !== null ? conv.bias.data : new Float32Array(conv.out_channels);
      if (this.variant === 'fused') {
        const f = bn === null ? { w: conv.weight, b: { shape: [conv.out_channels], data: bias } } : foldBatchNorm(conv.weight, conv.bias, bn);
        this.prepared.set(conv, { w: this.uploadFlat(f.w.data), b: this.uploadFlat(f.b.data), bn: null });
      } else {
        const affine = bn === null ? null : batchNormAffine(bn);
        this.prepared.set(conv, {
          w: this.uploadFlat(conv.weight.data), b: this.uploadFlat(bias),
          bn: affine === null ? null : { scale: this.uploadFlat(affine.scale), shift: this.uploadFlat(affine.shift) },
        });
      }
    }
    // Uploads run now, not during the first forward pass.
    await Promise.all([...this.prepared.values()].flatMap((p) => [p.w.value, p.b.value, p.bn?.scale.value, p.bn?.shift.value]));
  }

  upload(x: Tensor): GpuTensor {
    if (x.shape.length !== 3) throw new Error(`${this.name}: upload expects (C, H, W), got ${formatShape(x.shape)}`);
    const [c, h, w] = x.shape as [number, number, number];
    this.stats.uploads++;
    const src: GpuTensor = { shape: [c, h, w], value: Promise.resolve(new Input(x.data as unknown as number[], [w, h, c])), readers: [], released: false };
    return this.launch(copySpec([c, h, w]), [src]);
  }

  async read(x: GpuTensor): Promise<Tensor> {
    const p = x.value.then(async (v) => {
      this.stats.readbacks++;
      const arr = typeof (v as { toArray?: unknown }).toArray === 'function' ? await (v as { toArray(): unknown }).toArray() : v;
      const data = new Float32Array(numel(x.shape));
      const n = flattenInto(arr, data, 0);
      if (n !== data.length) throw new Error(`${this.name}: read ${n} values for shape ${formatShape(x.shape)}`);
      return { shape: [...x.shape], data };
    });
    x.readers.push(p.catch(() => undefined));
    if (this.pendingError !== null) {
      const e = this.pendingError;
      this.pendingError = null;
      throw e;
    }
    return p;
  }

  shape(x: GpuTensor): readonly number[] {
    return x.shape;
  }

  release(x: GpuTensor): void {
    if (x.released) return;
    x.released = true;
    this.free(x);
  }

  private free(x: GpuTensor): void {
    void Promise.all([x.value, ...x.readers]).then(([v]) => {
      if (isDeletable(v)) {
        v.delete();
        this.stats.live--;
      }
    }, (e) => { this.pendingError ??= e; });
  }

  convBnAct(x: GpuTensor, { conv, bn, slope }: ConvBnAct): GpuTensor {
    if (this.partner.get(conv) !== bn) throw new Error(`${this.name}: ${conv.path} is not paired with that batch norm (call prepare() with the model)`);
    const p = this.prepared.get(conv)!;
    const attrs = { stride: conv.stride, padding: conv.padding, groups: conv.groups };
    if (this.variant === 'fused') return this.launch(conv2dSpec(x.shape, conv.weight.shape, attrs, slope), [x, p.w, p.b]);
    let y = this.launch(conv2dSpec(x.shape, conv.weight.shape, attrs, null), [x, p.w, p.b]);
    if (p.bn !== null) {
      const z = this.launch(batchNorm2dSpec(y.shape), [y, p.bn.scale, p.bn.shift]);
      this.release(y);
      y = z;
    }
    if (slope === null) return y;
    const a = this.launch(leakyReluSpec(y.shape, slope), [y]);
    this.release(y);
    return a;
  }

  add(a: GpuTensor, b: GpuTensor, slope: Slope): GpuTensor {
    if (this.variant === 'fused' || slope === null) return this.launch(addSpec(a.shape, b.shape, slope), [a, b]);
    const s = this.launch(addSpec(a.shape, b.shape, null), [a, b]);
    const y = this.launch(leakyReluSpec(s.shape, slope), [s]);
    this.release(s);
    return y;
  }

  interpolateNearest(x: GpuTensor, h: number, w: number): GpuTensor {
    const [, hIn, wIn] = x.shape as [number, number, number];
    return this.launch(interpolateNearestSpec(x.shape, h, w), [x, this.indexTable(hIn, h), this.indexTable(wIn, w)]);
  }

  /** Nearest-neighbour source indices for one axis, uploaded once per (in, out) size pair. */
  private indexTable(inSize: number, outSize: number): GpuTensor {
    const key = `${inSize}->${outSize}`;
    let t = this.indexTables.get(key);
    if (t === undefined) {
      t = this.uploadFlat(nearestIndexTable(inSize, outSize));
      this.indexTables.set(key, t);
    }
    return t;
  }

  cat(xs: GpuTensor[], slope: Slope): GpuTensor {
    return this.catLeading(xs, slope);
  }

  /** Up to three inputs per kernel; longer lists are folded three at a time. */
  private catLeading(xs: GpuTensor[], slope: Slope): GpuTensor {
    if (xs.length === 0) throw new Error(`${this.name}: cat of nothing`);
    if (xs.length > 3) {
      const head = this.catLeading(xs.slice(0, 3), null);
      const y = this.catLeading([head, ...xs.slice(3)], slope);
      this.release(head);
      return y;
    }
    const args = [xs[0]!, xs[1] ?? xs[0]!, xs[2] ?? xs[0]!];
    const fusedSlope = this.variant === 'fused' ? slope : null;
    let y = this.launch(catSpec(xs.map((t) => t.shape), fusedSlope), args);
    if (fusedSlope === null && slope !== null) {
      const a = this.launch(leakyReluSpec(y.shape, slope), [y]);
      this.release(y);
      y = a;
    }
    return y;
  }

  maxPool2d(x: GpuTensor, kernel: number, stride: number, padding: number): GpuTensor {
    return this.launch(maxPool2dSpec(x.shape, kernel, stride, padding), [x]);
  }

  headPermute(x: GpuTensor, k: number): GpuTensor {
    return this.launch(headPermuteSpec(x.shape, k), [x]);
  }

  catRows(xs: GpuTensor[]): GpuTensor {
    return this.catLeading(xs, null);
  }

  softmax(x: GpuTensor): GpuTensor {
    return this.launch(softmaxSpec(x.shape), [x]);
  }

  private freeWeights(): void {
    for (const p of this.prepared.values()) {
      for (const t of [p.w, p.b, p.bn?.scale, p.bn?.shift]) if (t !== undefined) this.release(t);
    }
    for (const t of this.indexTables.values()) this.release(t);
    this.prepared.clear();
    this.indexTables.clear();
    this.partner.clear();
  }

  /** Waits until every launch and deletion issued so far has run (for leak checks and timing). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
  }

  dispose(): void {
    if (this.disposed) return;
    this.freeWeights();
    this.disposed = true;
    for (const k of this.kernels.values()) (k as unknown as { destroy(removeCanvasReferences?: boolean): void }).destroy(true);
    this.kernels.clear();
    void this.gpu.destroy();
  }
}
