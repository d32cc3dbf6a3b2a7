// The small interface the one network definition (src/model) is written against. The CPU
// backend (src/backends/cpu.ts) and the gpu.js backend implement it; T is the backend's handle
// to a tensor that lives on it (a Tensor on the CPU, a texture or buffer on a GPU).
import { RetinaFaceError } from './errors.js';
import type { Slope } from './ops/activation.js';
import type { ConvBnAct, Module } from './model/modules.js';
import type { Tensor } from './tensor.js';
import type { SimdModules } from './ops/simd_files.js';

export interface Backend<T = unknown> {
  /** e.g. 'cpu-naive', 'cpu-fast', 'gpujs-webgl2' */
  readonly name: string;
  /**
   * Why this backend runs: 'requested', or for 'auto' and 'gpujs-auto' which one was chosen and
   * why the ones before it were not (set by createBackend).
   */
  why?: string;
  /** Once per loaded model: fold batch norms, pack or upload weights. */
  prepare(model: Module): Promise<void>;
  /** The network input, (3, H, W). */
  upload(x: Tensor): T;
  /**
   * Optional: storage for the network input that the backend owns, handed out as a view to write
   * into (cpu-simd: a block of its arena), and the handle that holds it; the caller fills `data`
   * before any other call, or releases `handle`. Without it, uploadInput() writes a fresh Tensor
   * and upload()s it.
   */
  inputView?(shape: readonly number[]): { data: Float32Array; handle: T };
  /** A copy of a tensor's values, taken now (later ops may reuse the handle's storage). */
  read(x: T): Promise<Tensor>;
  /**
   * Optional: read() into `dst` (of the tensor's length) instead of a fresh array, so that a caller
   * reusing its arrays from run to run skips the fresh memory's first touch (cpu-simd; runUploaded's
   * `into`). Without it, callers read().
   */
  readInto?(x: T, dst: Float32Array): Promise<void>;
  shape(x: T): readonly number[];
  /** The handle will not be used again by the forward pass: its storage may be reused. */
  release(x: T): void;

  /**
   * Optional: a whole forward pass of `model` on x, given as `walk` (the network's forward through
   * the scheduler; it returns the outputs loc, conf, landms). A backend may run walk() while
   * recording what it did and, on a later pass whose input and own state are as they were then,
   * redo that without walking (cpu-simd: its pool's tasks and its arena's allocations replayed,
   * src/backends/simd_replay.ts). The pass owns x, as the walk does; the caller releases the
   * outputs. A pass given any tap selection walks instead (startPass, src/model/run.ts).
   */
  pass?(model: Module, x: T, walk: () => [T, T, T]): [T, T, T];

  /** Convolution (+ bias) (+ eval batch norm) (+ LeakyReLU with this slope, 0 = ReLU). */
  convBnAct(x: T, layer: ConvBnAct): T;
  /** a + b, then the activation if slope is not null (ResNet: relu(out + identity)). */
  add(a: T, b: T, slope: Slope): T;
  /** F.interpolate(x, size=[h, w], mode='nearest'). */
  interpolateNearest(x: T, h: number, w: number): T;
  /** torch.cat along channels, then the activation if slope is not null (SSH: relu(cat(...))). */
  cat(xs: T[], slope: Slope): T;
  maxPool2d(x: T, kernel: number, stride: number, padding: number): T;
  /** A head's 1x1 output (A * k, H, W) permuted and viewed as (H * W * A, k). */
  headPermute(x: T, k: number): T;
  /** Concatenation of the levels' head outputs along anchors: (A_i, k) -> (sum A_i, k). */
  catRows(xs: T[]): T;
  /** Softmax over the last dimension of (A, k). */
  softmax(x: T): T;
  /** Frees everything the backend holds (weights, buffers, kernels). */
  dispose(): void;
}

/**
 * Which backend runs the network:
 * - 'auto' (the default): 'cpu-simd' where WebAssembly SIMD compiles, else 'cpu'; the backend's
 *   `why` says which and why;
 * - 'cpu' (= 'cpu-fast'): folded batch norm, fused activations, packed GEMM, on Float32Arrays;
 * - 'cpu-naive': the reference loops, one op per PyTorch op (slow; the ruler of the tests);
 * - 'cpu-simd': WebAssembly SIMD kernels generated at run time, activations in one arena,
 *   worker threads (option `threads`, default all cores);
 * - 'gpujs-<mode>': gpu.js kernels, resident on the device, in that gpu.js mode; 'gpujs-auto'
 *   picks the best mode that works and reports why it fell back.
 */
export type BackendSpec = 'auto' | 'cpu' | 'cpu-fast' | 'cpu-naive' | 'cpu-simd'
  | 'gpujs-auto' | 'gpujs-cpu' | 'gpujs-webasm' | 'gpujs-headlessgl' | 'gpujs-webgl' | 'gpujs-webgl2' | 'gpujs-webgpu';

export const BACKEND_SPECS: readonly BackendSpec[] = ['auto', 'cpu', 'cpu-fast', 'cpu-naive', 'cpu-simd',
  'gpujs-auto', 'gpujs-cpu', 'gpujs-webasm', 'gpujs-headlessgl', 'gpujs-webgl', 'gpujs-webgl2', 'gpujs-webgpu'];

export interface BackendOptions {
  /** worker threads for 'cpu-simd' (default: all cores) */
  threads?: number;
  /**
   * cpu-simd's kernel module precompiled (dist/wasm/retinaface-simd.wasm and -shared.wasm, compiled
   * or imported as modules), for runtimes that forbid compiling WebAssembly from bytes.
   */
  simdModules?: SimdModules;
  /**
   * cpu-simd's multiply-adds by relaxed SIMD's fused relaxed_madd (default: where the engine has
   * it, turning on V8's flag on Node 20); false: plain multiply then add, the same bits on every
   * machine.
   */
  fma?: boolean;
  /**
   * cpu-simd's Winograd tile for 3x3 stride-1 convolutions: 2 (F(2x2, 3x3) everywhere: a smaller
   * arena, resnet50's transformed 3x3 weights 75 MB instead of 169) or 4 (F(4x4, 3x3) everywhere);
   * default: 4 from 64 input channels, 2 below.
   */
  winogradTile?: 2 | 4;
  /**
   * cpu-simd's dense convolutions of at least 128 channels by one level of Strassen (default true:
   * an eighth fewer multiply-adds in ResNet-50's 1x1 and strided layers); false: one GEMM each, a
   * smaller arena (resnet50's 46 MB smaller).
   */
  strassen?: boolean;
}

/**
 * Refuses a winogradTile other than 2 or 4 (undefined: the default): the one check and wording,
 * run by the detector before any file is read and by cpu-simd for a backend made directly.
 */
export function checkWinogradTile(value: unknown): void {
  if (value !== undefined && value !== 2 && value !== 4) {
    throw new RetinaFaceError(`invalid option winogradTile: ${JSON.stringify(value) ?? String(value)} (expected 2 or 4)`, { code: 'EOPTION' });
  }
}

/** The default backend. */
export const DEFAULT_BACKEND: BackendSpec = 'auto';
