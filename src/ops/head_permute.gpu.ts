// x: (A * k, H, W) -> (H * W * A, k): the heads' permute(0, 2, 3, 1).contiguous().view(N, -1, k)
// (models/retinaface.py), batch dropped. Row (h * W + w) * A + a, column j holds channel a * k + j.
// Stored in slabs of rows (ROWS_LAYOUT in gpu_kernel.ts).
import { ROW_PAIR, rowsOutput, type KernelSpec, type KernelThis } from './gpu_kernel.js';

/**
 * output [k, Y, ceil(2 H W / Y)] (ROWS_LAYOUT) -> x = j, row r = z * Y + y (0 past the last
 * row), cell = floor(r / 2), anchor a = r - 2 cell; no loops; precision 'single'. Quotients are
 * taken of (n + 0.5): a half step away from an integer, so that a GPU division a few ulp off
 * cannot floor to the wrong row.
 */
export function headPermuteKernel(this: KernelThis<{ k: number; w: number; y: number; n: number }>, x: number[][][]): number {
  const r = this.thread.z * this.constants.y + this.thread.y;
  if (r >= this.constants.n) return 0;
  const cell = Math.floor((r + 0.5) / 2);
  const a = r - cell * 2;
  const ih = Math.floor((cell + 0.5) / this.constants.w);
  const iw = cell - ih * this.constants.w;
  return x[a * this.constants.k + this.thread.x]![ih]![iw]!;
}

export function headPermuteSpec(xShape: readonly number[], k: number, maxSlabs = Infinity): KernelSpec {
  const [c, h, w] = xShape as [number, number, number];
  if (c % k !== 0) throw new Error(`head_permute.gpu: ${c} channels are not a multiple of ${k}`);
  if (c / k !== ROW_PAIR) throw new Error(`head_permute.gpu: ${c / k} anchors per cell, the pair layout needs ${ROW_PAIR}`);
  const shape = [h * w * ROW_PAIR, k];
  const output = rowsOutput(shape, maxSlabs);
  return { name: 'head_permute', source: headPermuteKernel, output, constants: { k, w, y: output[1]!, n: shape[0]! }, shape };
}
