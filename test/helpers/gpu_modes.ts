// The gpu.js whole-network tests' tolerances per mode and their eviction sizes. Which modes run
// where, and the op-level tolerances, are the harness's (src/harness/modes.ts, tolerances.ts).
import type { GpuJsMode } from '../../src/backends/gpu_instance.js';
import type { Tolerance } from '../../src/harness/compare.js';

/**
 * Whole network against the naive CPU backend, every module output. cpu/webasm: the project's
 * CPU bound (1e-4 abs + rel): float32 accumulation differences compound over ~30 layers but
 * stay near 1e-5 of activations of magnitude 1-10 (measured max 1.4e-5 on mobile0.25, 1.4e-4
 * abs on seeded resnet50 activations of magnitude 350, i.e. 4e-7 relative). GL/WebGPU: GPU
 * float32 with FMA contraction and approximate exp on a software rasteriser: 1e-3.
 */
export function networkTolerance(mode: GpuJsMode): Tolerance {
  return mode === 'cpu' || mode === 'webasm' ? { abs: 1e-4, rel: 1e-4 } : { abs: 1e-3, rel: 1e-3 };
}

/**
 * Input sizes run in a row by the kernel-eviction checks (Node: test/gpu_network.test.ts;
 * Chromium: test/browser.test.ts): each new size destroys the kernels of the one before
 * (GpuJsBackend's KERNEL_SIZES_KEPT = 1), then the first runs again and must recompile
 * correctly. Small odd sizes: a pass takes about a second on SwiftShader.
 */
/**
 * What may stay from each size: the copy kernels that uploaded its nearest-upsampling index
 * tables (rows and columns of two upsamplings), kept because destroying an upload's kernel would
 * delete its data (GL modes only).
 */
export const UPLOADS_PER_SIZE = 4;
export const EVICTION_SIZES: readonly [number, number][] = [[35, 29], [27, 41], [45, 33], [33, 37]];
