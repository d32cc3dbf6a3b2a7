// OpenCV's cv::resize(..., INTER_LINEAR) on 8-bit RGB, reproduced in integer arithmetic: the
// upscale of multi-scale testing (src/detect/multiscale.ts; the downscale is INTER_AREA,
// preprocess.ts). OpenCV 4 (modules/imgproc/src/resize.cpp, resizeGeneric_ with fixed-point
// coefficients for CV_8U) does:
//  - per output column dx: fx = float((dx + 0.5) * scale_x - 0.5), sx = floor(fx), fx -= sx,
//    clamped to the border (sx < 0: sx = 0, fx = 0; sx >= W - 1: sx = W - 1, fx = 0); the two
//    weights 1 - fx and fx become shorts scaled by 2^11 (INTER_RESIZE_COEF_SCALE), rounded half
//    to even (saturate_cast<short>);
//  - per output row the same fy and weights, without the border reset: the two source rows are
//    clamped to [0, H - 1] and keep their weights;
//  - a horizontal pass into int rows (S = a0 * p[sx] + a1 * p[sx + 1], exact), then the vertical
//    pass as its SIMD kernel (VResizeLinearVec_32s8u) rounds: ((((S0 >> 4) * b0) >> 16) +
//    (((S1 >> 4) * b1) >> 16) + 2) >> 2. The scalar formula, (S0 * b0 + S1 * b1 + 2^21) >> 22,
//    differs from it by one level in about 10% of values; Debian's OpenCV 4.6 gives the SIMD
//    rounding at every position, row tails included, and test/multiscale.test.ts compares the
//    output with cv2.resize byte for byte.
import type { RgbImage } from './image.js';

const COEF_SCALE = 2048; // INTER_RESIZE_COEF_SCALE = 1 << 11

/** saturate_cast<short>(v * 2048) for v in [0, 1]: cvRound, half to even. */
function coef(v: number): number {
  const x = Math.fround(v) * COEF_SCALE; // exact: a float32 times a power of two
  let r = Math.round(x);
  if (r - x === 0.5 && r % 2 !== 0) r -= 1;
  return r;
}

interface Taps {
  /** the two source indices of each output index, within [0, size - 1] */
  s0: Int32Array;
  s1: Int32Array;
  /** their weights, scaled by 2^11 */
  w0: Int32Array;
  w1: Int32Array;
}

/**
 * One axis's source positions and weights (resizeGeneric_'s xofs/ialpha, yofs/ibeta). Columns
 * past a border take the border pixel with weights (1, 0); rows keep their fractional weights and
 * clamp the row indices (resizeGeneric_Invoker reads clip(sy + k) for the rows).
 */
function linearTaps(ssize: number, dsize: number, columns: boolean): Taps {
  const scale = 1 / (dsize / ssize); // cv::resize: inv_scale = dsize / ssize; scale = 1 / inv_scale
  const s0 = new Int32Array(dsize), s1 = new Int32Array(dsize), w0 = new Int32Array(dsize), w1 = new Int32Array(dsize);
  const clip = (i: number) => Math.min(Math.max(i, 0), ssize - 1);
  for (let d = 0; d < dsize; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (columns && s < 0) { s = 0; f = 0; }
    if (columns && s >= ssize - 1) { s = ssize - 1; f = 0; }
    s0[d] = clip(s);
    s1[d] = clip(s + 1);
    w0[d] = coef(Math.fround(1 - f));
    w1[d] = coef(f);
  }
  return { s0, s1, w0, w1 };
}

/** cv2.resize(img, (dw, dh), interpolation=cv2.INTER_LINEAR) for dw >= width, dh >= height. */
export function resizeLinear(img: RgbImage, dw: number, dh: number): RgbImage {
  const { width: sw, height: sh, data } = img;
  if (!Number.isInteger(dw) || !Number.isInteger(dh) || dw < sw || dh < sh) {
    throw new RangeError(`resizeLinear: ${sw}x${sh} -> ${dw}x${dh} is not an upscale`);
  }
  if (dw === sw && dh === sh) return { width: sw, height: sh, data: data.slice() };
  const xt = linearTaps(sw, dw, true), yt = linearTaps(sh, dh, false);
  const width = 3 * dw;
  // Horizontal pass of a source row into int32 values; two rows cached (consecutive output rows
  // mostly share their source rows).
  const cache = [{ sy: -1, buf: new Int32Array(width) }, { sy: -1, buf: new Int32Array(width) }];
  const row = (sy: number, keep: number): Int32Array => {
    for (const c of cache) if (c.sy === sy) return c.buf;
    const c = cache[0]!.sy === keep ? cache[1]! : cache[0]!;
    const base = 3 * sy * sw;
    for (let dx = 0; dx < dw; dx++) {
      const a0 = xt.w0[dx]!, a1 = xt.w1[dx]!;
      const p = base + 3 * xt.s0[dx]!, q = base + 3 * xt.s1[dx]!;
      for (let k = 0; k < 3; k++) c.buf[3 * dx + k] = data[p + k]! * a0 + data[q + k]! * a1;
    }
    c.sy = sy;
    return c.buf;
  };
  const out = new Uint8Array(dh * width);
  for (let dy = 0; dy < dh; dy++) {
    const sy0 = yt.s0[dy]!, sy1 = yt.s1[dy]!;
    const s0 = row(sy0, sy1), s1 = row(sy1, sy0);
    const b0 = yt.w0[dy]!, b1 = yt.w1[dy]!;
    const o = dy * width;
    for (let x = 0; x < width; x++) {
      const v = (((Math.imul(s0[x]! >> 4, b0) >> 16) + (Math.imul(s1[x]! >> 4, b1) >> 16) + 2) >> 2);
      out[o + x] = v > 255 ? 255 : v;
    }
  }
  return { width: dw, height: dh, data: out };
}
