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
import { conv2dOutputShape, type ConvAttrs } from './conv2d.js';
import { slopeConstants, type KernelSpec, type KernelThis } from './gpu_kernel.js';
import type { Slope } from './activation.js';

interface DenseConstants {
  cIn: number; h: number; w: number; kH: number; kW: number; stride: number; padding: number; act: number; slope: number;
}

/**
 * output [W_out, H_out, C_out] -> x = ow, y = oh, z = oc; loops ic < cIn (<= 2048), kh < kH,
 * kw < kW (<= 7), precision 'single'.
 */
export function conv2dDenseKernel(this: KernelThis<DenseConstants>, x: number[][][], w: number[], b: number[]): number {
  const oc = this.thread.z;
  const oh = this.thread.y;
  const ow = this.thread.x;
  let acc = b[oc]!;
  for (let ic = 0; ic < this.constants.cIn; ic++) {
    for (let kh = 0; kh < this.constants.kH; kh++) {
      const ih = oh * this.constants.stride - this.constants.padding + kh;
      if (ih >= 0 && ih < this.constants.h) {
        for (let kw = 0; kw < this.constants.kW; kw++) {
          const iw = ow * this.constants.stride - this.constants.padding + kw;
          if (iw >= 0 && iw < this.constants.w) {
            acc += x[ic]![ih]![iw]! * w[((oc * this.constants.cIn + ic) * this.constants.kH + kh) * this.constants.kW + kw]!;
          }
        }
      }
    }
  }
  if (this.constants.act === 1 && acc < 0) acc = acc * this.constants.slope;
  return acc;
}

interface DepthwiseConstants { h: number; w: number; stride: number; act: number; slope: number }

/** output [W_out, H_out, C] -> x = ow, y = oh, z = c; loops kh < 3, kw < 3; precision 'single'. */
export function conv2dDepthwise3x3Kernel(this: KernelThis<DepthwiseConstants>, x: number[][][], w: number[], b: number[]): number {
  const c = this.thread.z;
  const oh = this.thread.y;
  const ow = this.thread.x;
  let acc = b[c]!;
  for (let kh = 0; kh < 3; kh++) {
    const ih = oh * this.constants.stride - 1 + kh;
    if (ih >= 0 && ih < this.constants.h) {
      for (let kw = 0; kw < 3; kw++) {
        const iw = ow * this.constants.stride - 1 + kw;
        if (iw >= 0 && iw < this.constants.w) acc += x[c]![ih]![iw]! * w[c * 9 + kh * 3 + kw]!;
      }
    }
  }
  if (this.constants.act === 1 && acc < 0) acc = acc * this.constants.slope;
  return acc;
}

interface PointwiseConstants { cIn: number; stride: number; act: number; slope: number }

/** output [W_out, H_out, C_out] -> x = ow, y = oh, z = oc; loop ic < cIn (<= 2048); precision 'single'. */
export function conv2dPointwiseKernel(this: KernelThis<PointwiseConstants>, x: number[][][], w: number[], b: number[]): number {
  const oc = this.thread.z;
  const ih = this.thread.y * this.constants.stride;
  const iw = this.thread.x * this.constants.stride;
  let acc = b[oc]!;
  for (let ic = 0; ic < this.constants.cIn; ic++) acc += x[ic]![ih]![iw]! * w[oc * this.constants.cIn + ic]!;
  if (this.constants.act === 1 && acc < 0) acc = acc * this.constants.slope;
  return acc;
}

export type ConvKind = 'dense' | 'depthwise3x3' | 'pointwise';

/** Which loop fits a convolution; throws for the grouped shapes RetinaFace never uses. */
export function convKind(wShape: readonly number[], attrs: ConvAttrs): ConvKind {
  const [cOut, cPerGroup, kH, kW] = wShape as [number, number, number, number];
  if (attrs.groups === 1) return kH === 1 && kW === 1 && attrs.padding === 0 ? 'pointwise' : 'dense';
  if (cPerGroup === 1 && attrs.groups === cOut && kH === 3 && kW === 3 && attrs.padding === 1) return 'depthwise3x3';
  throw new Error(`conv2d.gpu: no kernel for groups ${attrs.groups} with weight (${wShape.join(', ')})`);
}

/** The kernel spec of one convolution (input shape, weight shape, attributes, fused slope). */
export function conv2dSpec(xShape: readonly number[], wShape: readonly number[], attrs: ConvAttrs, slope: Slope): KernelSpec {
  const [cOut, hOut, wOut] = conv2dOutputShape(xShape, wShape, attrs);
  const [cIn, h, w] = xShape as [number, number, number];
  const [, , kH, kW] = wShape as [number, number, number, number];
  const output = [wOut, hOut, cOut];
  const act = slopeConstants(slope);
  switch (convKind(wShape, attrs)) {
    case 'pointwise':
      return { name: 'conv2d.pointwise', source: conv2dPointwiseKernel, output, constants: { cIn, stride: attrs.stride, ...act } };
    case 'depthwise3x3':
      return { name: 'conv2d.depthwise3x3', source: conv2dDepthwise3x3Kernel, output, constants: { h, w, stride: attrs.stride, ...act } };
    case 'dense':
      return {
        name: `conv2d.dense${kH}x${kW}`, source: conv2dDenseKernel, output,
        constants: { cIn, h, w, kH, kW, stride: attrs.stride, padding: attrs.padding, ...act },
      };
  }
}

