// The op-level tolerances, once per backend: how far a backend's op result may be from the naive
// loops' (src/ops/*.cpu.ts) on the harness's cases, elementwise |actual - expected| <= abs + rel |expected|.
// The cases' values are of order 1 (seeded inputs in [-1, 1), He-scaled weights, batch norm near
// identity), so `abs` is the bound near zero and `rel` the bound elsewhere. A wrong index, a missed
// tap or a wrong activation is off by O(0.01) or more: every bound here is at least 100 times
// smaller. The whole-network tolerances (errors compounding over 30-50 layers) are another tier:
// test/helpers/gpu_modes.ts networkTolerance, bench/config.ts E2E_TOLERANCE.
import type { GpuJsMode } from '../backends/gpujs_modes.js';
import type { Tolerance } from './compare.js';

/** The table's keys: a backend's name without its variant or thread count ('cpu-simd-2t' is 'cpu-simd'). */
export type ToleranceKey = 'cpu-naive' | 'cpu-fast' | 'cpu-simd' | `gpujs-${GpuJsMode}`;

export interface DeclaredTolerance extends Tolerance {
  /** why it is that size */
  why: string;
}

const GPUJS_FLOAT32: DeclaredTolerance = {
  abs: 1e-4, rel: 1e-4,
  why: 'float32 accumulation in another order over up to 2048 x 9 terms of magnitude <= 1 (measured max 8.6e-6 on webasm ' +
    'at 2048 channels); GL and WebGPU add FMA contraction and an exp() (softmax) within a few ulp: 1e-4 covers both with a 10x margin',
};

export const TOLERANCES: Readonly<Record<ToleranceKey, DeclaredTolerance>> = {
  'cpu-naive': {
    abs: 0, rel: 0,
    why: 'the same loops as the reference, one op per PyTorch op in the same order: bit for bit equal',
  },
  'cpu-fast': {
    abs: 1e-5, rel: 1e-5,
    why: 'accumulates in float64 and rounds once to float32, like the naive loops; they differ by the float32 rounding of the ' +
      'folded weights (relative 6e-8 each) summed in another order over up to 2048 x 9 terms: far below 1e-5',
  },
  'cpu-simd': {
    abs: 1e-4, rel: 1e-4,
    why: 'float32 accumulation (multiply, round, add, round; or fused, one rounding, with relaxed SIMD) in another order over up ' +
      'to 2048 x 9 products: the error grows like sqrt(K) 2^-24 |partial sums| (~1e-6); Winograd F(2x2, 3x3) adds its ' +
      'transforms\' rounding (measured 5e-7 to 1.7e-6, im2col + GEMM 1.7e-6 to 7.9e-6 for outputs of order 1), F(4x4, 3x3) ' +
      'more (its products summed by runs of 32: measured up to 2.8e-6 on the kernel test\'s shapes (node dist/test/run.js simd prints it))',
  },
  'gpujs-cpu': {
    abs: 1e-5, rel: 1e-5,
    why: 'gpu.js cpu mode evaluates the kernels in float64 JavaScript and rounds once at the output (measured max 2.4e-7): the bound of cpu-fast',
  },
  'gpujs-webasm': GPUJS_FLOAT32,
  'gpujs-headlessgl': GPUJS_FLOAT32,
  'gpujs-webgl': GPUJS_FLOAT32,
  'gpujs-webgl2': GPUJS_FLOAT32,
  'gpujs-webgpu': GPUJS_FLOAT32,
};

/** The tolerance of a backend by its name: 'gpujs-webasm-reference' and 'cpu-simd-2t' are their base's. */
export function toleranceFor(backendName: string): DeclaredTolerance {
  const key = backendName.replace(/-reference$/, '').replace(/-\d+t$/, '') as ToleranceKey;
  const t = TOLERANCES[key];
  if (t === undefined) throw new Error(`no tolerance declared for backend ${backendName} (src/harness/tolerances.ts)`);
  return t;
}
