// x: (C, H, W), scale/shift: (C) -> (C, H, W): eval-mode nn.BatchNorm2d as its own kernel, for the
// reference path of the gpu.js backend (conv, then batch norm, then activation, as PyTorch runs
// them). scale = weight / sqrt(running_var + eps) and shift = bias - running_mean * scale are
// computed once at load time (batchNormAffine), so the kernel is one multiply-add.
import type { BatchNormParams } from './batch_norm2d.cpu.js';
import { BN_EPS } from './batch_norm2d.cpu.js';
import type { KernelSpec, KernelThis } from './gpu_kernel.js';

/** output [W, H, C part] -> x = w, y = h, z = c; no loops; precision 'single'. cBase: first channel of the part. */
export function batchNorm2dKernel(this: KernelThis<{ cBase: number }>, x: number[][][], scale: number[], shift: number[]): number {
  const c = this.thread.z;
  return x[c]![this.thread.y]![this.thread.x]! * scale[this.constants.cBase + c]! + shift[this.constants.cBase + c]!;
}

/** The per-channel affine map of an eval batch norm: y = x * scale + shift (float64, rounded once). */
export function batchNormAffine(bn: BatchNormParams, eps = BN_EPS): { scale: Float32Array; shift: Float32Array } {
  const c = bn.weight.data.length;
  const scale = new Float32Array(c), shift = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) {
    const s = bn.weight.data[ch]! / Math.sqrt(bn.running_var.data[ch]! + eps);
    scale[ch] = s;
    shift[ch] = bn.bias.data[ch]! - bn.running_mean.data[ch]! * s;
  }
  return { scale, shift };
}

export function batchNorm2dSpec(xShape: readonly number[], cBase = 0): KernelSpec {
  const [c, h, w] = xShape as [number, number, number];
  return { name: 'batch_norm2d', source: batchNorm2dKernel, output: [w, h, c], constants: { cBase } };
}
