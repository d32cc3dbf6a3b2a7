// x: (C, H, W), w: (C, 1, 3, 3), b: (C) -> (C, H_out, W_out), stride 1 or 2, padding 1
// depthwise3x3s1 / depthwise3x3s2: per channel and band of DW_BAND output rows, the input rows
//   are copied into a zero-bordered scratch (no bounds checks in the inner loop), then 4 output
//   pixels per vector; stride 2 gathers the even/odd columns with shuffles. Split over threads
//   by channels. The kernel computes output rows [rowStart, rowEnd) and stores the vector of
//   channel ch, row oh, columns ow..ow+3 (ow a multiple of 4) at band pixel
//   q = (oh - rowStart) rowPix + ow:
//     y + ch chBytes + (q >> 3) panelBytes + (q & 7) 4:
//   a planar (C, H_out, W_out) tensor (rowPix W_out, panelBytes 32: 4 q) or gemm's NR-pixel
//   panels of a band of rows (dwpw.ts: the depthwise half of a fused depthwise-separable block;
//   rowPix a multiple of 4, so that no vector straddles two panels).
import { Code } from '../../wasm/emitter.js';
import { emitLeaky, emitMulAdd, emitStoreVectors, share, type SimdExports } from './common.js';

/** Columns of slack right of a depthwise scratch plane row: the last vector's reads (stride 2: 10 floats). */
export const DW_PLANE_SLACK = 12;

/**
 * Output rows per depthwise band: the band's input rows are copied zero-bordered into scratch
 * and stay in L1/L2 while used (a whole 1024x575 plane would not: one more pass over memory).
 */
export const DW_BAND = 16;

/** Floats of scratch one thread needs for a depthwise band on an input of width W. */
export function depthwisePlaneFloats(w: number): number {
  return ((DW_BAND - 1) * 2 + 3) * (w + 2 + DW_PLANE_SLACK);
}

/** The depthwise kernel of one stride; `fma`: multiply-adds by relaxed SIMD's relaxed_madd (emitMulAdd). */
export function emitDepthwise(stride: 1 | 2, fma: boolean): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32', 'i32', 'i32', 'i32']);
  const [x, w, bias, y, H, W, rowStart, rowEnd, wOut, cStart, cEnd, plane, slope, hasSlope, chBytes, rowPix, panelBytes] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const ch = c.local('i32'), r = c.local('i32'), rowBytes = c.local('i32'), src = c.local('i32'), dst = c.local('i32');
  const oh = c.local('i32'), ow = c.local('i32'), r0 = c.local('i32'), p = c.local('i32'), yRow = c.local('i32'), rem = c.local('i32');
  const oh0 = c.local('i32'), ohEnd = c.local('i32'), ih = c.local('i32'), yCh = c.local('i32');
  const wv = Array.from({ length: 9 }, () => c.local('v128'));
  const bv = c.local('v128'), acc = c.local('v128'), slopeV = c.local('v128');
  const va = c.local('v128'), vb = c.local('v128'), vc = c.local('v128'), vd = c.local('v128');

  const acc1 = c.local('v128'), q = c.local('i32'), yp = c.local('i32'), yp1 = c.local('i32'), qy = c.local('i32'), qv = c.local('i32');
  /** acc += the 3x3 taps of the output vector whose kh = 0 plane row starts at p + off bytes. */
  const emitTap = (sum: number, off: number) => {
    for (let kh = 0; kh < 3; kh++) {
      if (kh === 0) c.localGet(p).localSet(q);
      else c.localGet(q).localGet(rowBytes).i32Add().localSet(q);
      if (stride === 1) {
        for (let kw = 0; kw < 3; kw++) {
          emitMulAdd(c, fma, sum, () => c.localGet(wv[kh * 3 + kw]!), () => c.localGet(q).v128Load(off + 4 * kw));
        }
      } else {
        // Output ow + l reads plane columns 2 (ow + l) + kw: kw 0 = even lanes of [q, q + 8),
        // kw 1 = odd lanes, kw 2 = even lanes of [q + 2, q + 10).
        c.localGet(q).v128Load(off).localSet(va).localGet(q).v128Load(off + 16).localSet(vb);
        c.localGet(q).v128Load(off + 8).localSet(vc).localGet(q).v128Load(off + 24).localSet(vd);
        emitMulAdd(c, fma, sum, () => c.localGet(wv[kh * 3]!), () => c.localGet(va).localGet(vb).f32x4Shuffle(0, 2, 4, 6));
        emitMulAdd(c, fma, sum, () => c.localGet(wv[kh * 3 + 1]!), () => c.localGet(va).localGet(vb).f32x4Shuffle(1, 3, 5, 7));
        emitMulAdd(c, fma, sum, () => c.localGet(wv[kh * 3 + 2]!), () => c.localGet(vc).localGet(vd).f32x4Shuffle(0, 2, 4, 6));
      }
    }
  };
  c.localGet(slope).f32x4Splat().localSet(slopeV);
  c.localGet(W).i32Const(2 + DW_PLANE_SLACK).i32Add().i32Const(2).i32Shl().localSet(rowBytes);
  c.forRange(ch, () => c.localGet(cStart), () => c.localGet(cEnd), 1, () => {
    wv.forEach((v, i) => c.localGet(w).localGet(ch).i32Const(36).i32Mul().i32Add().v128Load32Splat(4 * i).localSet(v));
    c.localGet(bias).localGet(ch).i32Const(2).i32Shl().i32Add().v128Load32Splat().localSet(bv);
    c.localGet(x).localGet(ch).localGet(H).i32Mul().localGet(W).i32Mul().i32Const(2).i32Shl().i32Add().localSet(src);
    c.localGet(y).localGet(ch).localGet(chBytes).i32Mul().i32Add().localSet(yCh);
    c.forRange(oh0, () => c.localGet(rowStart), () => c.localGet(rowEnd), DW_BAND, () => {
      c.localGet(oh0).i32Const(DW_BAND).i32Add().localTee(ohEnd).localGet(rowEnd).localGet(ohEnd).localGet(rowEnd).i32LtS().select().localSet(ohEnd);
      // The band's input rows ih = oh0 s - 1 + q, q < (ohEnd - oh0 - 1) s + 3, zero-bordered
      // (columns 0 and W + 1), rows outside the image all zero.
      c.forRange(r, () => c.i32Const(0), () => c.localGet(ohEnd).localGet(oh0).i32Sub().i32Const(stride).i32Mul().i32Const(3 - stride).i32Add(), 1, () => {
        c.localGet(oh0).i32Const(stride).i32Mul().i32Const(1).i32Sub().localGet(r).i32Add().localSet(ih);
        c.localGet(plane).localGet(r).localGet(rowBytes).i32Mul().i32Add().localSet(dst);
        c.localGet(ih).localGet(H).i32LtU().if(() => {
          c.localGet(dst).f32Const(0).f32Store();
          c.localGet(dst).i32Const(4).i32Add().localGet(src).localGet(ih).localGet(W).i32Mul().i32Const(2).i32Shl().i32Add()
            .localGet(W).i32Const(2).i32Shl().memoryCopy();
          c.localGet(dst).localGet(W).i32Const(2).i32Shl().i32Add().f32Const(0).f32Store(4);
        }, () => {
          c.localGet(dst).i32Const(0).localGet(W).i32Const(2).i32Add().i32Const(2).i32Shl().memoryFill();
        });
      });
      c.forRange(oh, () => c.localGet(oh0), () => c.localGet(ohEnd), 1, () => {
        c.localGet(plane).localGet(oh).localGet(oh0).i32Sub().i32Const(stride).i32Mul().localGet(rowBytes).i32Mul().i32Add().localSet(r0);
        // The row's first band pixel qy, its panel's address yRow, and the first two vectors' yp and
        // yp1 (m = qy & 7): 4 m and 4 m + 16 bytes into that panel, or for m >= 4 the second one
        // 4 (m - 4) bytes into the next (in a planar tensor, panels 32 bytes apart: 4 m + 16 again).
        c.localGet(oh).localGet(rowStart).i32Sub().localGet(rowPix).i32Mul().localSet(qy);
        c.localGet(yCh).localGet(qy).i32Const(3).i32ShrU().localGet(panelBytes).i32Mul().i32Add().localSet(yRow);
        c.localGet(yRow).localGet(qy).i32Const(7).i32And().i32Const(2).i32Shl().i32Add().localSet(yp);
        c.localGet(qy).i32Const(7).i32And().i32Const(4).i32LtU().if(
          () => c.localGet(yp).i32Const(16).i32Add().localSet(yp1),
          () => c.localGet(yRow).localGet(panelBytes).i32Add().localGet(qy).i32Const(3).i32And().i32Const(2).i32Shl().i32Add().localSet(yp1));
        // Two vectors (8 output pixels) per step while they fit the row, two independent sums.
        c.localGet(r0).localSet(p);
        c.i32Const(0).localSet(ow);
        c.block(() => c.loop(() => {
          c.localGet(ow).i32Const(8).i32Add().localGet(wOut).i32GtS().brIf(1);
          c.localGet(bv).localSet(acc).localGet(bv).localSet(acc1);
          emitTap(acc, 0);
          emitTap(acc1, 16 * stride);
          c.localGet(hasSlope).if(() => emitLeaky(c, [acc, acc1], slopeV));
          c.localGet(yp).localGet(acc).v128Store(0).localGet(yp1).localGet(acc1).v128Store(0);
          c.localGet(p).i32Const(32 * stride).i32Add().localSet(p);
          c.localGet(yp).localGet(panelBytes).i32Add().localSet(yp);
          c.localGet(yp1).localGet(panelBytes).i32Add().localSet(yp1);
          c.localGet(ow).i32Const(8).i32Add().localSet(ow).br(0);
        }));
        // The rest of the row (1 to 7 pixels), a vector at a time, the last one partial.
        c.forRange(ow, () => c.localGet(ow), () => c.localGet(wOut), 4, () => {
          c.localGet(bv).localSet(acc);
          c.localGet(r0).localGet(ow).i32Const(stride === 1 ? 2 : 3).i32Shl().i32Add().localSet(p);
          emitTap(acc, 0);
          c.localGet(hasSlope).if(() => emitLeaky(c, [acc], slopeV));
          c.localGet(wOut).localGet(ow).i32Sub().localSet(rem);
          c.localGet(qy).localGet(ow).i32Add().localSet(qv);
          c.localGet(yCh).localGet(qv).i32Const(3).i32ShrU().localGet(panelBytes).i32Mul().i32Add()
            .localGet(qv).i32Const(7).i32And().i32Const(2).i32Shl().i32Add().localSet(yp);
          emitStoreVectors(c, yp, [acc], rem);
        });
      });
    });
  });
  return c;
}

export interface DepthwiseArgs {
  x: number; c: number; h: number; w: number; stride: number; hOut: number; wOut: number;
  weights: number; bias: number; y: number; slope: number; hasSlope: number;
  /** Per-thread plane scratch: thread `slot` uses scratch + slot * scratchBytes. */
  scratch: number; scratchBytes: number;
}

/** One piece of a depthwise 3x3 convolution, on thread `slot`'s scratch: a range of channels. */
export function depthwisePart(k: SimdExports, a: DepthwiseArgs, slot: number, piece: number, pieces: number): void {
  const [lo, hi] = share(a.c, 1, piece, pieces);
  if (lo >= hi) return;
  const f = a.stride === 1 ? k.depthwise3x3s1 : k.depthwise3x3s2;
  const plane = a.hOut * a.wOut * 4;
  f(a.x, a.weights, a.bias, a.y, a.h, a.w, 0, a.hOut, a.wOut, lo, hi, a.scratch + slot * a.scratchBytes, a.slope, a.hasSlope, plane, a.wOut, 32);
}
