// The CPU backend on plain Float32Arrays, in two variants behind the same interface:
// - 'naive': the reference loops, one op per PyTorch op (conv, then batch norm, then activation),
//   the ruler every other implementation is tested against;
// - 'fast': batch norm folded into the convolution at prepare() (load) time, bias and activation
//   fused, dense convolutions as packed GEMM, depthwise 3x3 direct.
import type { Backend } from '../backend.js';
import type { ConvBnAct, Module } from '../model/modules.js';
import type { Slope } from '../ops/activation.js';
import { addNaive } from '../ops/add.cpu.js';
import { batchNorm2dNaive } from '../ops/batch_norm2d.cpu.js';
import { catNaive } from '../ops/cat.cpu.js';
import { conv2dNaive } from '../ops/conv2d.cpu.js';
import { conv2dGemm, depthwiseConv3x3, packConvWeights, type PackedConv } from '../ops/conv2d_fast.cpu.js';
import { headPermuteNaive } from '../ops/head_permute.cpu.js';
import { interpolateNearestNaive } from '../ops/interpolate_nearest.cpu.js';
import { leakyReluNaive } from '../ops/leaky_relu.cpu.js';
import { maxPool2dNaive } from '../ops/max_pool2d.cpu.js';
import { softmaxNaive } from '../ops/softmax.cpu.js';
import type { Tensor } from '../tensor.js';
import { lowerModel, type LoweredConv } from './lowering.js';

export type CpuVariant = 'naive' | 'fast';

type Folded =
  | { kind: 'depthwise'; w: Tensor; b: Tensor; stride: number }
  | { kind: 'gemm'; packed: PackedConv };

/** cpu-fast's form of a lowered conv: GEMM panels, or the depthwise loop's folded weights. */
function pack(l: LoweredConv): Folded {
  const { weight, bias } = l.folded();
  const w = { shape: [l.cOut, l.cIn / l.groups, l.kernel, l.kernel], data: weight }, b = { shape: [l.cOut], data: bias };
  if (l.kind === 'depthwise') return { kind: 'depthwise', w, b, stride: l.stride };
  return { kind: 'gemm', packed: packConvWeights(w, b, l) };
}

function activate(x: Tensor, slope: Slope): Tensor {
  if (slope === null) return x;
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i]!;
    if (v < 0) x.data[i] = v * slope;
  }
  return x;
}

export class CpuBackend implements Backend<Tensor> {
  readonly name: string;
  private units = new Map<ConvBnAct, Folded | null>();

  constructor(readonly variant: CpuVariant = 'fast') {
    this.name = `cpu-${variant}`;
  }

  async prepare(model: Module): Promise<void> {
    this.units.clear();
    for (const [unit, l] of lowerModel(model)) this.units.set(unit, this.variant === 'fast' ? pack(l) : null);
  }

  upload(x: Tensor): Tensor {
    return x;
  }
  async read(x: Tensor): Promise<Tensor> {
    return { shape: [...x.shape], data: x.data.slice() };
  }
  shape(x: Tensor): readonly number[] {
    return x.shape;
  }
  release(_x: Tensor): void {}

  convBnAct(x: Tensor, unit: ConvBnAct): Tensor {
    const f = this.units.get(unit);
    if (f === undefined) throw new Error(`${this.name}: ${unit.path} was not prepared (call prepare() with the model)`);
    const { conv, bn, slope } = unit;
    if (f === null) {
      // naive: one op per PyTorch op, unfolded
      let y = conv2dNaive(x, conv.weight, conv.bias, { stride: conv.stride, padding: conv.padding, groups: conv.groups });
      if (bn !== null) y = batchNorm2dNaive(y, bn);
      return slope === null ? y : leakyReluNaive(y, slope);
    }
    return f.kind === 'gemm' ? conv2dGemm(x, f.packed, slope) : depthwiseConv3x3(x, f.w, f.b, f.stride, slope);
  }

  add(a: Tensor, b: Tensor, slope: Slope): Tensor {
    const y = addNaive(a, b);
    if (slope === null) return y;
    return this.variant === 'naive' ? leakyReluNaive(y, slope) : activate(y, slope);
  }
  interpolateNearest(x: Tensor, h: number, w: number): Tensor {
    return interpolateNearestNaive(x, h, w);
  }
  cat(xs: Tensor[], slope: Slope): Tensor {
    const y = catNaive(xs);
    if (slope === null) return y;
    return this.variant === 'naive' ? leakyReluNaive(y, slope) : activate(y, slope);
  }
  maxPool2d(x: Tensor, kernel: number, stride: number, padding: number): Tensor {
    return maxPool2dNaive(x, kernel, stride, padding);
  }
  headPermute(x: Tensor, k: number): Tensor {
    return headPermuteNaive(x, k);
  }
  catRows(xs: Tensor[]): Tensor {
    return catNaive(xs);
  }
  softmax(x: Tensor): Tensor {
    return softmaxNaive(x);
  }
  dispose(): void {
    this.units.clear();
  }
}
