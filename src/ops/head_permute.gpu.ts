// x: (A * k, H, W) -> (H * W * A, k): the heads' permute(0, 2, 3, 1).contiguous().view(N, -1, k)
// (models/retinaface.py), batch dropped. Row (h * W + w) * A + a, column j holds channel a * k + j.
import type { KernelSpec, KernelThis } from './gpu_kernel.js';

/** output [k, H * W * A] -> x = j, y = row; no loops; precision 'single'. */
export function headPermuteKernel(this: KernelThis<{ anchors: number; k: number; w: number }>, x: number[][][]): number {
  const row = this.thread.y;
  const cell = Math.floor(row / this.constants.anchors);
  const a = row - cell * this.constants.anchors;
  const ih = Math.floor(cell / this.constants.w);
  const iw = cell - ih * this.constants.w;
  return x[a * this.constants.k + this.thread.x]![ih]![iw]!;
}

export function headPermuteSpec(xShape: readonly number[], k: number): KernelSpec {
  const [c, h, w] = xShape as [number, number, number];
  if (c % k !== 0) throw new Error(`head_permute.gpu: ${c} channels are not a multiple of ${k}`);
  const anchors = c / k;
  return { name: 'head_permute', source: headPermuteKernel, output: [k, h * w * anchors], constants: { anchors, k, w } };
}
