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
