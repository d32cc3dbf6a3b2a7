// x: (N, K) -> (N, K), F.softmax(x, dim=-1): exp(x - max) / sum per row. Each thread recomputes
// its row's max and sum (K = 2 for RetinaFace's classes: cheaper than a reduction pass).
import type { KernelSpec, KernelThis } from './gpu_kernel.js';

/** output [K, N] -> x = j, y = row; loops j < K; precision 'single'. */
export function softmaxKernel(this: KernelThis<{ k: number }>, x: number[][]): number {
  const row = this.thread.y;
  let m = x[row]![0]!;
  for (let j = 1; j < this.constants.k; j++) m = Math.max(m, x[row]![j]!);
  let s = 0;
  for (let j = 0; j < this.constants.k; j++) s += Math.exp(x[row]![j]! - m);
  return Math.exp(x[row]![this.thread.x]! - m) / s;
}

export function softmaxSpec(xShape: readonly number[]): KernelSpec {
  if (xShape.length !== 2) throw new Error(`softmax.gpu: expects (N, K), got (${xShape.join(', ')})`);
  const [n, k] = xShape as [number, number];
  return { name: 'softmax', source: softmaxKernel, output: [k, n], constants: { k } };
}
