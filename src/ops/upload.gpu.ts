// Host -> device copies: the network input (C, H, W) and the weights (flat), run once through an
// identity kernel so that they become resident (a texture on GL, a storage buffer on webgpu) and
// later kernels read them without another upload.
import type { KernelSpec, KernelThis } from './gpu_kernel.js';

/** output [W, H, C] -> x = w, y = h, z = c; no loops; precision 'single'. */
export function copy3dKernel(this: KernelThis<Record<string, never>>, x: number[][][]): number {
  return x[this.thread.z]![this.thread.y]![this.thread.x]!;
}

/** output [N] -> x = i; no loops; precision 'single'. */
export function copy1dKernel(this: KernelThis<Record<string, never>>, x: number[]): number {
  return x[this.thread.x]!;
}

export function copySpec(shape: readonly number[]): KernelSpec {
  if (shape.length === 3) return { name: 'copy3d', source: copy3dKernel, output: [shape[2]!, shape[1]!, shape[0]!], constants: {} };
  if (shape.length === 1) return { name: 'copy1d', source: copy1dKernel, output: [shape[0]!], constants: {} };
  throw new Error(`upload.gpu: rank ${shape.length} is not uploaded`);
}
