// x: (N, K) -> (N, K), F.softmax(x, dim=-1): exp(x - max) / sum per row. Each thread recomputes
// its row's max and sum (K = 2 for RetinaFace's classes: cheaper than a reduction pass).
import { rowsOutput, type KernelSpec, type KernelThis } from './gpu_kernel.js';

/**
 * output [K, Y, ceil(N / Y)] (ROWS_LAYOUT, the input's layout: same N) -> x = j, y, z: the row's
 * slab position; loops j < K; precision 'single'. Padding rows past N compute junk the readback drops.
 */
export function softmaxKernel(this: KernelThis<{ k: number }>, x: number[][][]): number {
  const z = this.thread.z, y = this.thread.y;
  let m = x[z]![y]![0]!;
  for (let j = 1; j < this.constants.k; j++) m = Math.max(m, x[z]![y]![j]!);
  let s = 0;
  for (let j = 0; j < this.constants.k; j++) s += Math.exp(x[z]![y]![j]! - m);
  return Math.exp(x[z]![y]![this.thread.x]! - m) / s;
}

export function softmaxSpec(xShape: readonly number[], maxSlabs = Infinity): KernelSpec {
  if (xShape.length !== 2) throw new Error(`softmax.gpu: expects (N, K), got (${xShape.join(', ')})`);
  return { name: 'softmax', source: softmaxKernel, output: rowsOutput(xShape, maxSlabs), constants: { k: xShape[1]! }, shape: [...xShape] };
}
