// x: (C, H, W) -> (C, H_out, W_out), nn.MaxPool2d(kernel, stride, padding), floor mode; padded
// positions never win (the window only visits in-bounds pixels, and every window has one).
import { convOutputSize } from './conv2d.js';
import type { KernelSpec, KernelThis } from './gpu_kernel.js';

interface PoolConstants { h: number; w: number; kernel: number; stride: number; padding: number }

/** output [W_out, H_out, C] -> x = ow, y = oh, z = c; loops kh, kw < kernel (3); precision 'single'. */
export function maxPool2dKernel(this: KernelThis<PoolConstants>, x: number[][][]): number {
  const c = this.thread.z;
  let m = -3.4e38;
  for (let kh = 0; kh < this.constants.kernel; kh++) {
    const ih = this.thread.y * this.constants.stride - this.constants.padding + kh;
    if (ih >= 0 && ih < this.constants.h) {
      for (let kw = 0; kw < this.constants.kernel; kw++) {
        const iw = this.thread.x * this.constants.stride - this.constants.padding + kw;
        if (iw >= 0 && iw < this.constants.w) m = Math.max(m, x[c]![ih]![iw]!);
      }
    }
  }
  return m;
}

export function maxPool2dSpec(xShape: readonly number[], kernel: number, stride: number, padding: number): KernelSpec {
  const [c, h, w] = xShape as [number, number, number];
  if (padding * 2 > kernel) throw new Error(`max_pool2d.gpu: padding ${padding} more than half of kernel ${kernel}`);
  const output = [convOutputSize(w, kernel, stride, padding), convOutputSize(h, kernel, stride, padding), c];
  return { name: 'max_pool2d', source: maxPool2dKernel, output, constants: { h, w, kernel, stride, padding } };
}
