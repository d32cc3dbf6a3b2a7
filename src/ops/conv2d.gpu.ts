// x: (C_in, H, W), w: (C_out, C_in/groups, kH, kW) flat, b: (C_out) -> (C_out, H_out, W_out)
// The gpu.js convolutions, one output element per thread, bias and activation fused; with batch
// norm folded into w and b at load time (foldBatchNorm) they are the whole conv_bn unit. Each is
// tested against conv2dNaive (test/gpu_ops.test.ts). Three shapes of loop:
// - dense (groups 1, any kernel, stride, padding): the 3x3 stride 1 and 2 of SSH/FPN/ResNet,
//   the 7x7 stride-2 stem of ResNet-50, the 3x3 stride-2 stem of MobileNetV1;
// - depthwise 3x3 (groups = C_in = C_out, padding 1, stride 1 or 2): conv_dw's first conv;
// - pointwise 1x1 (groups 1, padding 0, any stride): conv_dw's second conv, FPN laterals,
//   ResNet's Bottleneck conv1/conv3/downsample, the heads.
// Padding is explicit signed bounds checks, as in the naive loop.
import { conv2dOutputShape, convKind, type ConvAttrs } from './conv2d.js';
import { slopeConstants, type KernelSpec, type KernelThis } from './gpu_kernel.js';
import type { Slope } from './activation.js';

/**
 * A tensor too large for one texture or buffer is split into channel parts (src/backends/gpujs.ts);
 * a convolution then runs once per (output part, input part), each launch adding its input
 * channels to the previous partial sum (prev) and the last one applying the activation. With one
 * part each, ocBase = icBase = 0, hasPrev = 0 and cInW = cIn: the plain convolution.
 */
export interface PartConstants {
  /** first output channel of this part (weights, bias) */
  ocBase: number;
  /** first input channel of this input part (weights) */
  icBase: number;
  /** input channels per output channel in the weight tensor (C_in / groups) */
  cInW: number;
  /** 1: start from prev instead of the bias */
  hasPrev: number;
}

interface DenseConstants extends PartConstants {
  cIn: number; h: number; w: number; kH: number; kW: number; stride: number; padding: number; act: number; slope: number;
}

/**
 * output [W_out, H_out, C_out part] -> x = ow, y = oh, z = oc; loops ic < cIn (input part, <= 2048),
 * kh < kH, kw < kW (<= 7), precision 'single'.
 */
export function conv2dDenseKernel(this: KernelThis<DenseConstants>, x: number[][][], w: number[], b: number[], prev: number[][][]): number {
  const oc = this.thread.z;
  const oh = this.thread.y;
  const ow = this.thread.x;
  let acc = 0;
  if (this.constants.hasPrev === 1) acc = prev[oc]![oh]![ow]!;
  else acc = b[this.constants.ocBase + oc]!;
  for (let ic = 0; ic < this.constants.cIn; ic++) {
    for (let kh = 0; kh < this.constants.kH; kh++) {
      const ih = oh * this.constants.stride - this.constants.padding + kh;
      if (ih >= 0 && ih < this.constants.h) {
        for (let kw = 0; kw < this.constants.kW; kw++) {
          const iw = ow * this.constants.stride - this.constants.padding + kw;
          if (iw >= 0 && iw < this.constants.w) {
            acc += x[ic]![ih]![iw]! * w[(((this.constants.ocBase + oc) * this.constants.cInW + this.constants.icBase + ic) * this.constants.kH + kh) * this.constants.kW + kw]!;
          }
        }
      }
    }
  }
  if (this.constants.act === 1 && acc < 0) acc = acc * this.constants.slope;
  return acc;
}

interface DepthwiseConstants { h: number; w: number; stride: number; act: number; slope: number; ocBase: number }

/** output [W_out, H_out, C part] -> x = ow, y = oh, z = c; loops kh < 3, kw < 3; precision 'single'. */
export function conv2dDepthwise3x3Kernel(this: KernelThis<DepthwiseConstants>, x: number[][][], w: number[], b: number[]): number {
  const c = this.thread.z;
  const oh = this.thread.y;
  const ow = this.thread.x;
  const cw = this.constants.ocBase + c;
  let acc = b[cw]!;
  for (let kh = 0; kh < 3; kh++) {
    const ih = oh * this.constants.stride - 1 + kh;
    if (ih >= 0 && ih < this.constants.h) {
      for (let kw = 0; kw < 3; kw++) {
        const iw = ow * this.constants.stride - 1 + kw;
        if (iw >= 0 && iw < this.constants.w) acc += x[c]![ih]![iw]! * w[cw * 9 + kh * 3 + kw]!;
      }
    }
  }
  if (this.constants.act === 1 && acc < 0) acc = acc * this.constants.slope;
  return acc;
}

interface PointwiseConstants extends PartConstants { cIn: number; stride: number; act: number; slope: number }

/** output [W_out, H_out, C_out part] -> x = ow, y = oh, z = oc; loop ic < cIn (input part, <= 2048); precision 'single'. */
export function conv2dPointwiseKernel(this: KernelThis<PointwiseConstants>, x: number[][][], w: number[], b: number[], prev: number[][][]): number {
  const oc = this.thread.z;
  const ih = this.thread.y * this.constants.stride;
  const iw = this.thread.x * this.constants.stride;
  let acc = 0;
  if (this.constants.hasPrev === 1) acc = prev[oc]![this.thread.y]![this.thread.x]!;
  else acc = b[this.constants.ocBase + oc]!;
  const row = (this.constants.ocBase + oc) * this.constants.cInW + this.constants.icBase;
  for (let ic = 0; ic < this.constants.cIn; ic++) acc += x[ic]![ih]![iw]! * w[row + ic]!;
  if (this.constants.act === 1 && acc < 0) acc = acc * this.constants.slope;
  return acc;
}

/** Where one launch sits in a split convolution (see PartConstants); whole tensors: FULL_PART. */
export interface ConvPart {
  /** output channels [ocBase, ocBase + ocCount) */
  ocBase: number;
  ocCount: number;
  /** input channels [icBase, icBase + icCount) of this input part (depthwise: = the output part) */
  icBase: number;
  icCount: number;
  /** a previous partial sum is added (not the first input part) */
  hasPrev: boolean;
  /** the activation applies (the last input part) */
  last: boolean;
}

/**
 * The kernel spec of one convolution launch: input part shape, the full weight shape, attributes,
 * fused slope, and which part (omitted: the whole tensor).
 */
export function conv2dSpec(xShape: readonly number[], wShape: readonly number[], attrs: ConvAttrs, slope: Slope, part?: ConvPart): KernelSpec {
  const [, h, w] = xShape as [number, number, number];
  const kind = convKind(wShape, attrs);
  const [cOutAll, cInW, kH, kW] = wShape as [number, number, number, number];
  const cInAll = kind === 'depthwise' ? cOutAll : cInW * attrs.groups;
  const p: ConvPart = part ?? { ocBase: 0, ocCount: cOutAll, icBase: 0, icCount: cInAll, hasPrev: false, last: true };
  if (xShape[0] !== p.icCount) throw new Error(`conv2d.gpu: input part has ${xShape[0]} channels, expected ${p.icCount}`);
  // Output size from the full contract (validates shapes), channels from the part.
  const [, hOut, wOut] = conv2dOutputShape([cInAll, h, w], wShape, attrs);
  const output = [wOut, hOut, p.ocCount];
  const act = slopeConstants(p.last ? slope : null);
  const parts = { ocBase: p.ocBase, icBase: p.icBase, cInW, hasPrev: p.hasPrev ? 1 : 0 };
  switch (kind) {
    case 'pointwise':
      return { name: 'conv2d.pointwise', source: conv2dPointwiseKernel, output, constants: { cIn: p.icCount, stride: attrs.stride, ...act, ...parts } };
    case 'depthwise':
      if (p.icBase !== p.ocBase || p.icCount !== p.ocCount) throw new Error('conv2d.gpu: depthwise parts must match');
      return { name: 'conv2d.depthwise3x3', source: conv2dDepthwise3x3Kernel, output, constants: { h, w, stride: attrs.stride, ...act, ocBase: p.ocBase } };
    case 'dense':
      return {
        name: `conv2d.dense${kH}x${kW}`, source: conv2dDenseKernel, output,
        constants: { cIn: p.icCount, h, w, kH, kW, stride: attrs.stride, padding: attrs.padding, ...act, ...parts },
      };
  }
}
