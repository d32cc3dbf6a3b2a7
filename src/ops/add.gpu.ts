// a: (C, H, W), b: (C, H, W) -> (C, H, W): a + b, then the activation if any (FPN's lateral +
// upsampled top; ResNet's relu(out + identity)).
import { formatShape, shapeEquals } from '../tensor.js';
import { slopeConstants, type KernelSpec, type KernelThis } from './gpu_kernel.js';
import type { Slope } from './activation.js';

/** output [W, H, C] -> x = w, y = h, z = c; no loops; precision 'single'. */
export function addKernel(this: KernelThis<{ act: number; slope: number }>, a: number[][][], b: number[][][]): number {
  const c = this.thread.z, y = this.thread.y, x = this.thread.x;
  let v = a[c]![y]![x]! + b[c]![y]![x]!;
  if (this.constants.act === 1 && v < 0) v = v * this.constants.slope;
  return v;
}

export function addSpec(aShape: readonly number[], bShape: readonly number[], slope: Slope): KernelSpec {
  if (aShape.length !== 3 || !shapeEquals(aShape, bShape)) throw new Error(`add.gpu: shapes ${formatShape(aShape)} and ${formatShape(bShape)} differ`);
  const [c, h, w] = aShape as [number, number, number];
  return { name: 'add', source: addKernel, output: [w, h, c], constants: slopeConstants(slope) };
}
