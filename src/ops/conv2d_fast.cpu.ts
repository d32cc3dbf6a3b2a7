// x: (C_in, H, W), w: (C_out, C_in/groups, kH, kW), b: (C_out) -> (C_out, H_out, W_out)
// The faster CPU convolutions, each tested against conv2dNaive (test/ops.test.ts). Both take
// weights with batch norm already folded in (foldBatchNorm) and fuse bias + LeakyReLU.
//
// conv2dGemm (groups = 1, any kernel/stride/padding): the convolution as a matrix product
// Y (C_out x P) = W (C_out x K) * X_col (K x P), K = C_in kH kW, P = H_out W_out, computed
// tile by tile over P. W is packed once into panels of 4 output channels (packConvWeights),
// each tile of X_col is packed into panels of 4 output pixels while it is built (im2col), and
// a 4x4 register-blocked kernel walks both panels contiguously along K.
//
// depthwiseConv3x3 (groups = C_in = C_out, 3x3): direct loops per channel, bounds hoisted.
import type { Slope } from './activation.js';
import { packDenseWeights, packedDenseFloats } from './gemm_panels.js';
import { conv2dOutputShape, type ConvAttrs } from './conv2d.js';
import { tensor, type Tensor } from '../tensor.js';

/** Weights in 4-row panels: packed[(ob * K + k) * 4 + r] = w[4 ob + r][k], zero rows past C_out. */
export interface PackedConv {
  shape: number[];
  packed: Float32Array;
  bias: Float32Array;
  attrs: ConvAttrs;
}

export function packConvWeights(w: Tensor, bias: Tensor, attrs: ConvAttrs): PackedConv {
  const cOut = w.shape[0]!;
  const packed = new Float32Array(packedDenseFloats(cOut, w.data.length / cOut));
  packDenseWeights(w.data, cOut, packed);
  return { shape: [...w.shape], packed, bias: Float32Array.from(bias.data), attrs };
}

/** Output pixels per tile: the packed im2col tile (K x T floats) stays within about 256 KB. */
function tileSize(k: number): number {
  return Math.max(16, Math.min(512, Math.floor(65536 / k) & ~3));
}

export function conv2dGemm(x: Tensor, p: PackedConv, slope: Slope, scratch?: Float32Array): Tensor {
  const [cOut, hOut, wOut] = conv2dOutputShape(x.shape, p.shape, p.attrs);
  const [cIn, h, w] = x.shape as [number, number, number];
  const [, , kH, kW] = p.shape as [number, number, number, number];
  const { stride, padding } = p.attrs;
  const K = cIn * kH * kW;
  const P = hOut * wOut;
  const T = tileSize(K);
  const col = scratch !== undefined && scratch.length >= K * T ? scratch : new Float32Array(K * T);
  const y = tensor([cOut, hOut, wOut]);
  const X = x.data, A = p.packed, Y = y.data, bias = p.bias;
  const ocBlocks = Math.ceil(cOut / 4);
  const hasSlope = slope !== null;
  const s = slope ?? 1;
  const pointwise = kH === 1 && kW === 1 && stride === 1 && padding === 0;

  for (let p0 = 0; p0 < P; p0 += T) {
    const t = Math.min(T, P - p0);
    const colBlocks = Math.ceil(t / 4);
    // im2col into 4-pixel panels: col[(cb * K + k) * 4 + c] = x_col[k][p0 + 4 cb + c].
    if (pointwise) {
      for (let k = 0; k < K; k++) {
        const src = k * P + p0;
        for (let c = 0; c < colBlocks * 4; c++) col[((c >> 2) * K + k) * 4 + (c & 3)] = c < t ? X[src + c]! : 0;
      }
    } else {
      const oh0 = Math.floor(p0 / wOut), ow0 = p0 % wOut;
      for (let ic = 0, k = 0; ic < cIn; ic++) {
        for (let kh = 0; kh < kH; kh++) {
          for (let kw = 0; kw < kW; kw++, k++) {
            let oh = oh0, ow = ow0;
            for (let c = 0; c < colBlocks * 4; c++) {
              let v = 0;
              if (c < t) {
                const ih = oh * stride - padding + kh;
                const iw = ow * stride - padding + kw;
                if (ih >= 0 && ih < h && iw >= 0 && iw < w) v = X[(ic * h + ih) * w + iw]!;
                if (++ow === wOut) { ow = 0; oh++; }
              }
              col[((c >> 2) * K + k) * 4 + (c & 3)] = v;
            }
          }
        }
      }
    }
    for (let ob = 0; ob < ocBlocks; ob++) {
      const aBase = ob * K * 4;
      for (let cb = 0; cb < colBlocks; cb++) {
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (let ai = aBase, bi = cb * K * 4, end = aBase + K * 4; ai < end; ai += 4, bi += 4) {
          const a0 = A[ai]!, a1 = A[ai + 1]!, a2 = A[ai + 2]!, a3 = A[ai + 3]!;
          const b0 = col[bi]!, b1 = col[bi + 1]!, b2 = col[bi + 2]!, b3 = col[bi + 3]!;
          c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
          c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
          c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
          c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
        }
        const pBase = p0 + cb * 4;
        const full = cb * 4 + 4 <= t;
        store(Y, ob * 4, cOut, P, pBase, full ? 4 : t - cb * 4, bias, hasSlope, s, c00, c01, c02, c03);
        store(Y, ob * 4 + 1, cOut, P, pBase, full ? 4 : t - cb * 4, bias, hasSlope, s, c10, c11, c12, c13);
        store(Y, ob * 4 + 2, cOut, P, pBase, full ? 4 : t - cb * 4, bias, hasSlope, s, c20, c21, c22, c23);
        store(Y, ob * 4 + 3, cOut, P, pBase, full ? 4 : t - cb * 4, bias, hasSlope, s, c30, c31, c32, c33);
      }
    }
  }
  return y;
}

/** Writes up to 4 outputs of row oc (skipped past C_out), adding the bias, applying the slope. */
function store(
  Y: Float32Array, oc: number, cOut: number, P: number, p: number, n: number,
  bias: Float32Array, hasSlope: boolean, s: number, v0: number, v1: number, v2: number, v3: number,
): void {
  if (oc >= cOut) return;
  const b = bias[oc]!, o = oc * P + p;
  v0 += b; v1 += b; v2 += b; v3 += b;
  if (hasSlope) {
    if (v0 < 0) v0 *= s;
    if (v1 < 0) v1 *= s;
    if (v2 < 0) v2 *= s;
    if (v3 < 0) v3 *= s;
  }
  Y[o] = v0;
  if (n > 1) Y[o + 1] = v1;
  if (n > 2) Y[o + 2] = v2;
  if (n > 3) Y[o + 3] = v3;
}

export function depthwiseConv3x3(x: Tensor, w: Tensor, bias: Tensor, stride: number, slope: Slope): Tensor {
  const attrs = { stride, padding: 1, groups: x.shape[0]! };
  const [c, hOut, wOut] = conv2dOutputShape(x.shape, w.shape, attrs);
  const [, h, wd] = x.shape as [number, number, number];
  const y = tensor([c, hOut, wOut]);
  const X = x.data, W = w.data, Y = y.data;
  const hasSlope = slope !== null;
  const s = slope ?? 1;
  for (let ch = 0; ch < c; ch++) {
    const w0 = W[ch * 9]!, w1 = W[ch * 9 + 1]!, w2 = W[ch * 9 + 2]!;
    const w3 = W[ch * 9 + 3]!, w4 = W[ch * 9 + 4]!, w5 = W[ch * 9 + 5]!;
    const w6 = W[ch * 9 + 6]!, w7 = W[ch * 9 + 7]!, w8 = W[ch * 9 + 8]!;
    const bv = bias.data[ch]!;
    const xBase = ch * h * wd;
    for (let oh = 0; oh < hOut; oh++) {
      const ih = oh * stride - 1;
      // Rows above or below the image contribute zero: weight 0 and any valid row index.
      const top = ih >= 0, bottom = ih + 2 < h;
      const r0 = xBase + (top ? ih : ih + 1) * wd, r1 = xBase + (ih + 1) * wd, r2 = xBase + (bottom ? ih + 2 : ih + 1) * wd;
      const k0 = top ? 1 : 0, k2 = bottom ? 1 : 0;
      const yRow = (ch * hOut + oh) * wOut;
      for (let ow = 0; ow < wOut; ow++) {
        const iw = ow * stride - 1;
        let acc = bv;
        if (iw >= 0 && iw + 2 < wd) {
          acc += k0 * (w0 * X[r0 + iw]! + w1 * X[r0 + iw + 1]! + w2 * X[r0 + iw + 2]!);
          acc += w3 * X[r1 + iw]! + w4 * X[r1 + iw + 1]! + w5 * X[r1 + iw + 2]!;
          acc += k2 * (w6 * X[r2 + iw]! + w7 * X[r2 + iw + 1]! + w8 * X[r2 + iw + 2]!);
        } else {
          for (let kw = 0; kw < 3; kw++) {
            const jw = iw + kw;
            if (jw < 0 || jw >= wd) continue;
            acc += k0 * W[ch * 9 + kw]! * X[r0 + jw]! + W[ch * 9 + 3 + kw]! * X[r1 + jw]! + k2 * W[ch * 9 + 6 + kw]! * X[r2 + jw]!;
          }
        }
        if (hasSlope && acc < 0) acc *= s;
        Y[yRow + ow] = acc;
      }
    }
  }
  return y;
}
