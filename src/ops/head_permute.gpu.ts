// x: (A * k, H, W) -> (H * W * A, k): the heads' permute(0, 2, 3, 1).contiguous().view(N, -1, k)
// (models/retinaface.py), batch dropped. Row (h * W + w) * A + a, column j holds channel a * k + j.
// Stored as rows in pairs (see ROWS_LAYOUT in gpu_kernel.ts): output [k, 2, H * W] for A = 2.
import { ROW_PAIR, type KernelSpec, type KernelThis } from './gpu_kernel.js';

/**
 * output [k, A = 2, H * W] -> x = j, y = anchor a, z = cell h * W + w; no loops; precision
 * 'single'. h = floor((cell + 0.5) / W): the half keeps the quotient a half step away from an
 * integer, so that a GPU division a few ulp off cannot floor to the wrong row.
 */
export function headPermuteKernel(this: KernelThis<{ k: number; w: number }>, x: number[][][]): number {
  const cell = this.thread.z;
  const ih = Math.floor((cell + 0.5) / this.constants.w);
  const iw = cell - ih * this.constants.w;
  return x[this.thread.y * this.constants.k + this.thread.x]![ih]![iw]!;
}

export function headPermuteSpec(xShape: readonly number[], k: number): KernelSpec {
  const [c, h, w] = xShape as [number, number, number];
  if (c % k !== 0) throw new Error(`head_permute.gpu: ${c} channels are not a multiple of ${k}`);
  if (c / k !== ROW_PAIR) throw new Error(`head_permute.gpu: ${c / k} anchors per cell, the pair layout needs ${ROW_PAIR}`);
  return { name: 'head_permute', source: headPermuteKernel, output: [k, ROW_PAIR, h * w], constants: { k, w }, shape: [h * w * ROW_PAIR, k] };
}
