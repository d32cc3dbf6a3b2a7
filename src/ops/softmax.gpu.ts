// x: (N, K) -> (N, K), F.softmax(x, dim=-1): exp(x - max) / sum per row. Each thread recomputes
// its row's max and sum (K = 2 for RetinaFace's classes: cheaper than a reduction pass).
import { rowsOutput, type KernelSpec, type KernelThis } from './gpu_kernel.js';

/** output [K, 2, N / 2] (ROWS_LAYOUT) -> x = j, y = r mod 2, z = floor(r / 2); loops j < K; precision 'single'. */
export function softmaxKernel(this: KernelThis<{ k: number }>, x: number[][][]): number {
  const z = this.thread.z, y = this.thread.y;
  let m = x[z]![y]![0]!;
  for (let j = 1; j < this.constants.k; j++) m = Math.max(m, x[z]![y]![j]!);
  let s = 0;
  for (let j = 0; j < this.constants.k; j++) s += Math.exp(x[z]![y]![j]! - m);
  return Math.exp(x[z]![y]![this.thread.x]! - m) / s;
}

export function softmaxSpec(xShape: readonly number[]): KernelSpec {
  if (xShape.length !== 2) throw new Error(`softmax.gpu: expects (N, K), got (${xShape.join(', ')})`);
  return { name: 'softmax', source: softmaxKernel, output: rowsOutput(xShape), constants: { k: xShape[1]! }, shape: [...xShape] };
}
