// x: (C, H, W), rows: (H_out), cols: (W_out) -> (C, H_out, W_out), F.interpolate(mode='nearest').
// The source indices are computed on the host by nearestSourceIndex (PyTorch's float32 formula)
// and passed as two small index arrays: every backend then reads exactly the same source pixel,
// whatever its float arithmetic.
import { nearestSourceIndex } from './interpolate_nearest.js';
import type { KernelSpec, KernelThis } from './gpu_kernel.js';

/** output [W_out, H_out, C part] -> x = ow, y = oh, z = c; no loops; precision 'single'. xOff: the part's start in x. */
export function interpolateNearestKernel(this: KernelThis<{ xOff: number }>, x: number[][][], rows: number[], cols: number[]): number {
  return x[this.constants.xOff + this.thread.z]![rows[this.thread.y]!]![cols[this.thread.x]!]!;
}

export function nearestIndexTable(inSize: number, outSize: number): Float32Array {
  return Float32Array.from({ length: outSize }, (_, d) => nearestSourceIndex(d, inSize, outSize));
}

export function interpolateNearestSpec(xShape: readonly number[], hOut: number, wOut: number, part?: { count: number; xOff: number }): KernelSpec {
  const [c] = xShape as [number, number, number];
  const p = part ?? { count: c, xOff: 0 };
  return { name: 'interpolate_nearest', source: interpolateNearestKernel, output: [wOut, hOut, p.count], constants: { xOff: p.xOff } };
}
