// x: (C, H, W) -> (C, H, W), nn.LeakyReLU(slope) / F.relu (slope 0) as its own kernel (the
// reference path; the fast path fuses the activation into the producing kernel).
import type { KernelSpec, KernelThis } from './gpu_kernel.js';

/** output [W, H, C] -> x = w, y = h, z = c; no loops; precision 'single'. */
export function leakyReluKernel(this: KernelThis<{ slope: number }>, x: number[][][]): number {
  const v = x[this.thread.z]![this.thread.y]![this.thread.x]!;
  if (v < 0) return v * this.constants.slope;
  return v;
}

export function leakyReluSpec(xShape: readonly number[], slope: number): KernelSpec {
  const [c, h, w] = xShape as [number, number, number];
  return { name: 'leaky_relu', source: leakyReluKernel, output: [w, h, c], constants: { slope } };
}
