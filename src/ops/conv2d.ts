// Contract of nn.Conv2d as RetinaFace uses it (torch/nn/modules/conv.py), batch 1:
// x: (C_in, H, W), w: (C_out, C_in/groups, kH, kW), b: (C_out) | null -> (C_out, H_out, W_out)
// H_out = floor((H + 2 padding - kH) / stride) + 1 (dilation 1), likewise W_out.
import { formatShape } from '../tensor.js';

export interface ConvAttrs {
  stride: number;
  padding: number;
  groups: number;
}

/** Output length of a convolution or pooling window along one axis (dilation 1, floor mode). */
export function convOutputSize(n: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((n + 2 * padding - kernel) / stride) + 1;
}

/** Validates shapes and returns the output shape; throws naming both shapes on a mismatch. */
export function conv2dOutputShape(x: readonly number[], w: readonly number[], attrs: ConvAttrs): [number, number, number] {
  const [cIn, h, wd] = x as [number, number, number];
  const [cOut, cPerGroup, kh, kw] = w as [number, number, number, number];
  if (x.length !== 3 || w.length !== 4 || cIn !== cPerGroup * attrs.groups || cOut % attrs.groups !== 0) {
    throw new Error(`conv2d: input ${formatShape(x)} does not fit weight ${formatShape(w)} with groups ${attrs.groups}`);
  }
  const hOut = convOutputSize(h, kh, attrs.stride, attrs.padding);
  const wOut = convOutputSize(wd, kw, attrs.stride, attrs.padding);
  if (hOut < 1 || wOut < 1) throw new Error(`conv2d: input ${formatShape(x)} is smaller than kernel ${kh}x${kw}`);
  return [cOut, hOut, wOut];
}

/** Multiply-accumulates of one convolution (bias excluded), for the benchmarks' GFLOP/s. */
export function conv2dMacs(outShape: readonly number[], w: readonly number[]): number {
  const [cOut, hOut, wOut] = outShape as [number, number, number];
  const [, cPerGroup, kh, kw] = w as [number, number, number, number];
  return cOut * hOut * wOut * cPerGroup * kh * kw;
}

/**
 * Which loop a convolution needs, the one classifier every backend and report uses:
 * - 'pointwise': 1x1, pad 0, groups 1 (a GEMM over pixels, no im2col);
 * - 'depthwise': 3x3, pad 1, one group per channel, stride 1 or 2 (MobileNet's conv_dw);
 * - 'dense': any other groups-1 convolution (3x3 and the 7x7 stem: im2col + GEMM, or Winograd).
 * Grouped shapes RetinaFace never uses have no kernel on any backend: refused here, once.
 */
export type ConvKind = 'dense' | 'pointwise' | 'depthwise';

export function convKind(w: readonly number[], attrs: ConvAttrs): ConvKind {
  const [cOut, cPerGroup, kh, kw] = w as [number, number, number, number];
  if (attrs.groups === 1) return kh === 1 && kw === 1 && attrs.padding === 0 ? 'pointwise' : 'dense';
  if (cPerGroup === 1 && attrs.groups === cOut && kh === 3 && kw === 3 && attrs.padding === 1 && attrs.stride <= 2) return 'depthwise';
  throw new Error(`conv2d: no kernel for groups ${attrs.groups} with weight ${formatShape(w)}, stride ${attrs.stride}, padding ${attrs.padding}`);
}

/**
 * The name reports group convolutions under (benchmarks, summary): the kind with its kernel and
 * stride, the network's first conv as 'stem' (3 input channels) and a head's biased 1x1 as 'head'.
 * e.g. 'depthwise 3x3/2', 'pointwise 1x1', 'dense 3x3/1', 'stem 7x7/2', 'head 1x1'.
 */
export function convLabel(w: readonly number[], attrs: ConvAttrs, hasBias: boolean): string {
  const kind = convKind(w, attrs);
  const k = w[2]!;
  if (kind === 'pointwise' && hasBias) return 'head 1x1';
  if (w[1] === 3 && attrs.groups === 1) return `stem ${k}x${k}/${attrs.stride}`;
  if (kind === 'pointwise') return attrs.stride === 1 ? 'pointwise 1x1' : `pointwise 1x1/${attrs.stride}`;
  return `${kind} ${k}x${k}/${attrs.stride}`;
}
