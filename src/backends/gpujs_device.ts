// The device side of the gpu.js backend: compiled kernels (one per kernel spec, shape and input
// size), launches chained on their inputs' promises, resident host data (weights, index tables),
// deletions that wait for the launches reading a part, and the eviction of an old input size's
// kernels. src/backends/gpujs.ts builds the ops on it.
import { Input, type GPU, type IKernelRunShortcut } from 'gpu.js';
import { loopCap, type KernelSpec } from '../ops/gpu_kernel.js';
import { nearestIndexTable } from '../ops/interpolate_nearest.gpu.js';
import { copySpec } from '../ops/upload.gpu.js';
import { numel } from '../tensor.js';
import type { GpuJsMode, ModeLimits } from './gpu_instance.js';
import type { GpuPart } from './gpujs_parts.js';

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

function isDeletable(v: unknown): v is { delete(): void } {
  return typeof v === 'object' && v !== null && typeof (v as { delete?: unknown }).delete === 'function';
}

/** Input sizes whose compiled kernels are kept (see useInputSize): a camera's size and a photo's. */
export const KERNEL_SIZES_KEPT = 1;

export class GpuDevice {
  readonly stats: GpuJsStats = { launches: 0, readbacks: 0, uploads: 0, live: 0, kernelsCompiled: 0, kernelsEvicted: 0 };
  private readonly kernels = new Map<string, IKernelRunShortcut>();
  /** The input size (HxW) that last used each kernel; '' for kernels that made resident data (weights, index tables): never evicted. */
  private readonly kernelSize = new Map<string, string>();
  /** The input size that last used each index table (freed with that size's kernels). */
  private readonly tableSize = new Map<string, string>();
  private readonly indexTables = new Map<string, GpuPart>();
  /** Input sizes whose kernels are compiled, least recently used first. */
  private sizes: string[] = [];
  /** Parts made by a size's kernels and not freed yet: destroying their kernel would delete them. */
  private openParts = 0;
  private currentSize = '';
  private disposed = false;
  /** deletions waiting for the launches that read their tensor */
  private readonly freeing = new Set<Promise<void>>();
  /** The first error of a launch nobody awaited (a release chain): rethrown by the next read. */
  pendingError: unknown = null;

  constructor(readonly name: string, readonly mode: GpuJsMode, readonly gpu: GPU, readonly limits: ModeLimits) {}

  /** Compiled kernels held now. */
  get kernelCount(): number {
    return this.kernels.size;
  }

  kernel(spec: KernelSpec, argShapes: readonly (readonly number[])[]): IKernelRunShortcut {
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
  launch(spec: KernelSpec, args: GpuPart[]): GpuPart {
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
  uploadFlat(data: Float32Array): GpuPart {
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
  useInputSize(h: number, w: number): void {
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

  /** Channels of the network input made resident: an Input of (w, h, count) over `data`, copied on the device by one launch. */
  uploadInput(data: Float32Array, shape: readonly [number, number, number]): GpuPart {
    const [count, h, w] = shape;
    const src: GpuPart = { shape, value: Promise.resolve(new Input(data as unknown as number[], [w, h, count])), readers: [] };
    return this.launch(copySpec([count, h, w]), [src]);
  }

  free(p: GpuPart): void {
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

  /** Nearest-neighbour source indices for one axis, uploaded once per (in, out) size pair. */
  indexTable(inSize: number, outSize: number): GpuPart {
    const key = `${inSize}->${outSize}`;
    let t = this.indexTables.get(key);
    if (t === undefined) {
      t = this.uploadFlat(nearestIndexTable(inSize, outSize));
      this.indexTables.set(key, t);
    }
    this.tableSize.set(key, this.currentSize);
    return t;
  }

  /** Waits until every launch and deletion issued so far has run (for leak checks and timing). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
  }

  /** Frees the resident host data (weights are the backend's: it frees them first). */
  freeTables(): void {
    for (const t of this.indexTables.values()) this.free(t);
    this.indexTables.clear();
    this.tableSize.clear();
  }

  /** After every deletion issued so far: destroys the kernels and the gpu.js instance. */
  dispose(): Promise<void> {
    this.freeTables();
    this.disposed = true;
    return Promise.all([...this.freeing]).then(async () => {
      for (const k of this.kernels.values()) (k as unknown as { destroy(removeCanvasReferences?: boolean): void }).destroy(true);
      this.kernels.clear();
      await this.gpu.destroy();
    });
  }
}
