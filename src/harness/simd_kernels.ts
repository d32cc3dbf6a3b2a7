// cpu-simd's kernel module on its own, outside the backend: one thread, a plain memory grown by
// an Arena, for the kernel tests (test/simd.test.ts) and the one-kernel benchmarks
// (bench/strassen.ts, bench/winograd-tiles.ts, bench/simd-kernels.ts).
import type { SimdExports } from '../ops/simd/common.js';
import { compileSimdModule, instantiateSimd } from '../ops/simd/module.js';
import { numel, type Tensor } from '../tensor.js';
import { Arena } from '../wasm/arena.js';

export interface StandaloneKernels {
  k: SimdExports;
  arena: Arena;
  /** Copies the values into a new block of the arena; returns its byte offset. */
  put(data: Float32Array): number;
  /** A copy of the `shape`'s values at byte offset p. */
  get(p: number, shape: number[]): Tensor;
}

/** The kernels of one build (`fma`: relaxed_madd; the engine must have it) over a fresh arena. */
export async function standaloneKernels(fma = false): Promise<StandaloneKernels> {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const k = await instantiateSimd(await compileSimdModule({ initial: 1 }, { fma }), memory);
  const arena = new Arena(memory);
  const get = (p: number, shape: number[]): Tensor => ({ shape, data: arena.floats(p, numel(shape)).slice() });
  return { k, arena, put: (data) => arena.put(data), get };
}
