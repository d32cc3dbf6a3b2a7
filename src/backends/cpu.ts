// The CPU backend on plain Float32Arrays, in two variants behind the same interface:
// - 'naive': the reference loops, one op per PyTorch op (conv, then batch norm, then activation),
//   the ruler every other implementation is tested against;
// - 'fast': batch norm folded into the convolution at prepare() (load) time, bias and activation
//   fused, dense convolutions as packed GEMM, depthwise 3x3 direct.
import type { Backend } from '../backend.js';
import { BatchNorm2d, Conv2d, namedModules, type ConvBnAct, type Module } from '../model/modules.js';
import type { Slope } from '../ops/activation.js';
import { addNaive } from '../ops/add.cpu.js';
import { batchNorm2dNaive, foldBatchNorm } from '../ops/batch_norm2d.cpu.js';
import { catNaive } from '../ops/cat.cpu.js';
import { conv2dNaive } from '../ops/conv2d.cpu.js';
import { conv2dGemm, depthwiseConv3x3, packConvWeights, type PackedConv } from '../ops/conv2d_fast.cpu.js';
import { headPermuteNaive } from '../ops/head_permute.cpu.js';
import { interpolateNearestNaive } from '../ops/interpolate_nearest.cpu.js';
import { leakyReluNaive } from '../ops/leaky_relu.cpu.js';
import { maxPool2dNaive } from '../ops/max_pool2d.cpu.js';
import { softmaxNaive } from '../ops/softmax.cpu.js';
import { tensor, type Tensor } from '../tensor.js';

export type CpuVariant = 'naive' | 'fast';

type Folded =
  | { kind: 'depthwise'; w: Tensor; b: Tensor; stride: number }
  | { kind: 'gemm'; packed: PackedConv };

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
  private folded = new Map<Conv2d, Folded>();
  /** The BatchNorm2d that follows each Conv2d in the module tree (its folding partner). */
  private partner = new Map<Conv2d, BatchNorm2d | null>();

  constructor(readonly variant: CpuVariant = 'fast') {
    this.name = `cpu-${variant}`;
  }

  async prepare(model: Module): Promise<void> {
    this.folded.clear();
    this.partner.clear();
    // A Conv2d's batch norm is the next sibling in registration order (conv_bn's '0' -> '1',
    // conv_dw's '3' -> '4', Bottleneck's conv2 -> bn2); a head's conv1x1 has none.
    for (const [, m] of namedModules(model)) {
      const kids = m.children().map(([, c]) => c);
      kids.forEach((c, i) => {
        if (!(c instanceof Conv2d)) return;
        const next = kids[i + 1];
        this.partner.set(c, next instanceof BatchNorm2d ? next : null);
      });
    }
    if (this.variant === 'fast') for (const [conv, bn] of this.partner) this.folded.set(conv, this.fold(conv, bn));
  }

  private fold(conv: Conv2d, bn: BatchNorm2d | null): Folded {
    const f = bn === null
      ? { w: { shape: conv.weight.shape, data: conv.weight.data }, b: conv.bias ?? tensor([conv.out_channels]) }
      : foldBatchNorm(conv.weight, conv.bias, bn);
    const attrs = { stride: conv.stride, padding: conv.padding, groups: conv.groups };
    if (conv.groups === 1) return { kind: 'gemm', packed: packConvWeights(f.w, f.b, attrs) };
    if (conv.groups === conv.in_channels && conv.groups === conv.out_channels && conv.kernel_size === 3 && conv.padding === 1) {
      return { kind: 'depthwise', w: f.w, b: f.b, stride: conv.stride };
    }
    throw new Error(`cpu-fast: no kernel for grouped convolution ${conv.path} (groups ${conv.groups})`);
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

  convBnAct(x: Tensor, { conv, bn, slope }: ConvBnAct): Tensor {
    if (this.partner.get(conv) !== bn) throw new Error(`${this.name}: ${conv.path} is not paired with that batch norm (call prepare() with the model)`);
    if (this.variant === 'naive') {
      const attrs = { stride: conv.stride, padding: conv.padding, groups: conv.groups };
      let y = conv2dNaive(x, conv.weight, conv.bias, attrs);
      if (bn !== null) y = batchNorm2dNaive(y, bn);
      return slope === null ? y : leakyReluNaive(y, slope);
    }
    const f = this.folded.get(conv)!;
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
    this.folded.clear();
    this.partner.clear();
  }
}
