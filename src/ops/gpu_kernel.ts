// What every gpu.js kernel of this project shares: the settings that keep results exact
// (float32 in and out, highp), resident (pipeline) and owned by the caller (immutable: every
// call gets a fresh output that the backend deletes when the tensor is released), and the
// `this` that gpu.js gives a kernel function. The kernel functions themselves live in the
// op files (conv2d.gpu.ts, ...): plain functions over one output element, which gpu.js
// transpiles to JavaScript (cpu), WebAssembly (webasm), GLSL (headlessgl, webgl, webgl2) or
// WGSL (webgpu). They must stay in the small JavaScript subset gpu.js accepts: numbers,
// arrays indexed by integer expressions, `for` loops bounded by constants, no closures.

/** The `this` of a gpu.js kernel function with constants C. */
export interface KernelThis<C> {
  thread: { x: number; y: number; z: number };
  constants: C;
}

/** A gpu.js kernel function: one output element per call. */
export type KernelSource = (this: KernelThis<never>, ...args: never[]) => number;

/** Settings for gpu.js createKernel, as each op builds them (output is [x, y, z] = [W, H, C]). */
export interface KernelSpec {
  /** names the kernel in errors and counts (e.g. 'conv2d.dense'). */
  name: string;
  source: (...args: never[]) => number;
  output: number[];
  constants: Record<string, number>;
  /** the logical shape when it is not the output reversed (ROWS_LAYOUT) */
  shape?: number[];
}

/**
 * gpu.js caps every loop at loopMaxIterations (default 1000), which would silently truncate
 * ResNet-50's 2048-channel reductions; the cap is set from the largest loop bound of the kernel.
 */
export function loopCap(constants: Record<string, number>): number {
  let m = 16;
  for (const v of Object.values(constants)) if (Number.isFinite(v)) m = Math.max(m, Math.ceil(Math.abs(v)) + 1);
  return m;
}

/** A slope as two kernel constants: act 1 = apply LeakyReLU(slope) (0 = ReLU), act 0 = none. */
export function slopeConstants(slope: number | null): { act: number; slope: number } {
  return slope === null ? { act: 0, slope: 0 } : { act: 1, slope };
}

/**
 * ROWS_LAYOUT: a (N, k) tensor (head rows, class scores) is stored as output [k, Y, ceil(N / Y)],
 * row r at (x = j, y = r mod Y, z = floor(r / Y)), not [k, N]: gpu.js gives a 2D output exactly
 * a [k, N] texture, over the 8192 texel side at 16800 rows (640x640), while a 3D output gets a
 * near-square texture. Y is ROW_PAIR (the two anchors of one cell: RetinaFace's num_anchors is
 * 2, so N is even) unless N / 2 slabs exceed `maxSlabs`: gpu.js's WebGPU kernels dispatch one
 * workgroup per z index, at most maxComputeWorkgroupsPerDimension (65535) of them, and the
 * stride-8 level of a 4096x2300 image has 147456 cells; then Y grows so that the slabs fit and
 * the last slab is padded (threads past row N write 0, the readback drops them). Read back, the
 * output flattens to the row-major (N, k) either way.
 */
export const ROW_PAIR = 2;

/** Rows per slab (Y) of an N-row tensor. */
export function rowsPerSlab(n: number, maxSlabs: number): number {
  return n / ROW_PAIR <= maxSlabs ? ROW_PAIR : Math.ceil(n / maxSlabs);
}

export function rowsOutput(shape: readonly number[], maxSlabs = Infinity): number[] {
  const [n, k] = shape as [number, number];
  if (shape.length !== 2 || n % ROW_PAIR !== 0) throw new Error(`rows (${shape.join(', ')}): expected (N, k) with N a multiple of ${ROW_PAIR}`);
  const y = rowsPerSlab(n, maxSlabs);
  return [k, y, Math.ceil(n / y)];
}
