// An affine warp with the result of OpenCV's cv2.warpAffine(src, M, (w, h), flags=INTER_LINEAR,
// borderMode=BORDER_CONSTANT, borderValue) on 8-bit images, written in OpenCV's own arithmetic
// (imgwarp.cpp, WarpAffineInvoker + remapBilinear, OpenCV 4.x), which is fixed point:
//   - M (image -> crop) is inverted with OpenCV's formula, in double;
//   - the source position of crop pixel (x, y) is rounded to 1/1024 of a pixel per term
//     (cvRound(M[0] * x * 1024) + cvRound((M[1] * y + M[2]) * 1024)), then to 1/32 (>> 5, with
//     a rounding offset of 16): 32 fractional positions per axis, INTER_TAB_SIZE;
//   - the four bilinear weights are (32 - fy)(32 - fx), (32 - fy) fx, fy (32 - fx), fy fx times 32:
//     integers summing to 32768 (INTER_REMAP_COEF_SCALE), exact;
//   - the weighted sum is rounded back to 8 bits: (sum + 16384) >> 15;
//   - BORDER_CONSTANT: neighbours outside the image read the border value; a pixel whose four
//     neighbours are all outside is the border value.
// So the crop equals OpenCV's byte for byte where the float arithmetic agrees (test/align.test.ts
// measures it against cv2.warpAffine); a float bilinear would differ by a level here and there.
import type { RgbImage } from '../image/image.js';
import { RetinaFaceError } from '../errors.js';
import type { Matrix2x3 } from './similarity.js';

const AB_BITS = 10;
const AB_SCALE = 1 << AB_BITS;
const INTER_BITS = 5;
const INTER_TAB_SIZE = 1 << INTER_BITS;
const ROUND_DELTA = AB_SCALE / INTER_TAB_SIZE / 2;
const COEF_BITS = 15;

/** cvRound: to the nearest integer, ties to even (SSE2 cvtsd2si in the default rounding mode). */
function cvRound(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** An RGB border value: one level for all channels, or [r, g, b]. */
export type BorderValue = number | readonly [number, number, number];

function borderRgb(b: BorderValue): [number, number, number] {
  const v = typeof b === 'number' ? [b, b, b] : [...b];
  if (v.length !== 3 || !v.every((c) => Number.isInteger(c) && c >= 0 && c <= 255)) {
    throw new RetinaFaceError(`invalid option borderValue: ${String(b)} (expected an integer 0..255 or [r, g, b])`, { code: 'EOPTION' });
  }
  return v as [number, number, number];
}

/** `img` warped by `m` (image -> output coordinates) into a width x height RGB image. */
export function warpAffine(img: RgbImage, m: Matrix2x3, width: number, height: number, border: BorderValue = 0, out?: Uint8Array): RgbImage {
  const cval = borderRgb(border);
  // OpenCV inverts M unless WARP_INVERSE_MAP, exactly so:
  let [[m0, m1, m2], [m3, m4, m5]] = m;
  let d = m0 * m4 - m1 * m3;
  d = d !== 0 ? 1 / d : 0;
  const a11 = m4 * d, a22 = m0 * d;
  m0 = a11; m1 *= -d; m3 *= -d; m4 = a22;
  const b1 = -m0 * m2 - m1 * m5, b2 = -m3 * m2 - m4 * m5;
  m2 = b1; m5 = b2;

  const W = img.width, H = img.height, src = img.data;
  const dst = out ?? new Uint8Array(width * height * 3);
  const adelta = new Int32Array(width), bdelta = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    adelta[x] = cvRound(m0 * x * AB_SCALE);
    bdelta[x] = cvRound(m3 * x * AB_SCALE);
  }
  for (let y = 0; y < height; y++) {
    const X0 = cvRound((m1 * y + m2) * AB_SCALE) + ROUND_DELTA;
    const Y0 = cvRound((m4 * y + m5) * AB_SCALE) + ROUND_DELTA;
    for (let x = 0; x < width; x++) {
      const X = (X0 + adelta[x]!) >> (AB_BITS - INTER_BITS);
      const Y = (Y0 + bdelta[x]!) >> (AB_BITS - INTER_BITS);
      const sx = X >> INTER_BITS, sy = Y >> INTER_BITS;
      const fx = X & (INTER_TAB_SIZE - 1), fy = Y & (INTER_TAB_SIZE - 1);
      // the bilinear weights in units of 2^-15
      const w00 = (INTER_TAB_SIZE - fy) * (INTER_TAB_SIZE - fx) * 32, w01 = (INTER_TAB_SIZE - fy) * fx * 32;
      const w10 = fy * (INTER_TAB_SIZE - fx) * 32, w11 = fy * fx * 32;
      const o = 3 * (y * width + x);
      if (sx >= 0 && sx < W - 1 && sy >= 0 && sy < H - 1) {
        const p = 3 * (sy * W + sx), q = p + 3 * W;
        for (let c = 0; c < 3; c++) {
          dst[o + c] = (src[p + c]! * w00 + src[p + 3 + c]! * w01 + src[q + c]! * w10 + src[q + 3 + c]! * w11 + (1 << (COEF_BITS - 1))) >> COEF_BITS;
        }
      } else if (sx >= W || sx + 1 < 0 || sy >= H || sy + 1 < 0) {
        dst[o] = cval[0]; dst[o + 1] = cval[1]; dst[o + 2] = cval[2];
      } else {
        const in0 = sx >= 0 && sx < W, in1 = sx + 1 >= 0 && sx + 1 < W;
        const r0 = sy >= 0 && sy < H, r1 = sy + 1 >= 0 && sy + 1 < H;
        for (let c = 0; c < 3; c++) {
          const v00 = r0 && in0 ? src[3 * (sy * W + sx) + c]! : cval[c]!;
          const v01 = r0 && in1 ? src[3 * (sy * W + sx + 1) + c]! : cval[c]!;
          const v10 = r1 && in0 ? src[3 * ((sy + 1) * W + sx) + c]! : cval[c]!;
          const v11 = r1 && in1 ? src[3 * ((sy + 1) * W + sx + 1) + c]! : cval[c]!;
          dst[o + c] = (v00 * w00 + v01 * w01 + v10 * w10 + v11 * w11 + (1 << (COEF_BITS - 1))) >> COEF_BITS;
        }
      }
    }
  }
  return { width, height, data: dst };
}
