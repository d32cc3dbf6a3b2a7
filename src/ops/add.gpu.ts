// a: (C, H, W), b: (C, H, W) -> (C, H, W): a + b, then the activation if any (FPN's lateral +
// upsampled top; ResNet's relu(out + identity)).
import { formatShape, shapeEquals } from '../tensor.js';
import { slopeConstants, type KernelSpec, type KernelThis } from './gpu_kernel.js';
import type { Slope } from './activation.js';

/**
 * output [W, H, C part] -> x = w, y = h, z = c; no loops; precision 'single'. aOff, bOff: where the
 * output part starts inside the input parts a and b (split tensors, src/backends/gpujs.ts).
 */
export function addKernel(this: KernelThis<{ act: number; slope: number; aOff: number; bOff: number }>, a: number[][][], b: number[][][]): number {
  const c = this.thread.z, y = this.thread.y, x = this.thread.x;
  let v = a[this.constants.aOff + c]![y]![x]! + b[this.constants.bOff + c]![y]![x]!;
  if (this.constants.act === 1 && v < 0) v = v * this.constants.slope;
  return v;
}

/** shapes: the full tensors; part: output channels [base, base + count) at offsets aOff, bOff in the input parts. */
export function addSpec(aShape: readonly number[], bShape: readonly number[], slope: Slope, part?: { count: number; aOff: number; bOff: number }): KernelSpec {
  if (aShape.length !== 3 || !shapeEquals(aShape, bShape)) throw new Error(`add.gpu: shapes ${formatShape(aShape)} and ${formatShape(bShape)} differ`);
  const [c, h, w] = aShape as [number, number, number];
  const p = part ?? { count: c, aOff: 0, bOff: 0 };
  return { name: 'add', source: addKernel, output: [w, h, p.count], constants: { ...slopeConstants(slope), aOff: p.aOff, bOff: p.bOff } };
}
