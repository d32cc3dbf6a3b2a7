// x: (C_in, H, W), w: (C_out, C_in/groups, kH, kW), b: (C_out) -> (C_out, H_out, W_out)
// The WebAssembly SIMD convolutions of the 'cpu-simd' backend, generated at run time by
// src/wasm/emitter.ts, all over one memory (byte offsets as arguments), weights with batch norm
// folded in, bias and LeakyReLU fused. Tested against conv2dNaive in test/simd.test.ts.
//
// gemm: Y (C_out x n) = W (C_out x K) * B (K x n) + bias, activation. W is packed once into
//   panels of MR = 4 output channels ([panel][k][4], packDenseWeights); a micro-tile keeps
//   4 x NR outputs (NR = 4 * GEMM_COLS pixels) in v128 locals, and per k loads GEMM_COLS vectors
//   of B and splats 4 weights: 4 * GEMM_COLS multiply-adds of 4 lanes per 4 + GEMM_COLS loads.
//   B is read either row-major (row stride xStride) from an im2col tile, or from NR-pixel
//   panels (packB: a 1x1 convolution's input tile copied so that gemm reads it front to back).
// im2col: the tile of output pixels [p0, p0 + n) as B (K x n, row stride T), K = C_in kH kW,
//   zero padding.
// depthwise3x3s1 / depthwise3x3s2: per channel and band of DW_BAND output rows, the input rows
//   are copied into a zero-bordered scratch (no bounds checks in the inner loop), then 4 output
//   pixels per vector; stride 2 gathers the even/odd columns with shuffles.
// Relaxed SIMD's FMA is not available everywhere: multiply then add (two roundings, as the
// naive loop's float64 accumulation is not either: see the tolerances in the test).
import { Code, ModuleBuilder, type MemoryImport } from '../wasm/emitter.js';

/** Output channels per packed weight panel (the micro-tile's rows). */
export const GEMM_MR = 4;
/** v128 columns per micro-tile row: NR = 4 * GEMM_COLS output pixels. */
export const GEMM_COLS = 2;
export const GEMM_NR = 4 * GEMM_COLS;
/** gemm's blockBytes for a row-major B (pixel blocks side by side): NR floats. */
export const ROW_MAJOR_BLOCK = 4 * GEMM_NR;

/** The generated module's exports (all addresses are byte offsets into the shared memory). */
export interface SimdExports {
  gemm(w: number, x: number, xStride: number, y: number, yStride: number, bias: number,
    k: number, ocCount: number, n: number, slope: number, hasSlope: number, blockBytes: number): void;
  packB(x: number, xStride: number, k: number, n: number, dst: number): void;
  im2col(x: number, h: number, w: number, cIn: number, kSize: number, stride: number, pad: number,
    wOut: number, p0: number, n: number, rowStride: number, col: number): void;
  actCopy(a: number, y: number, n: number, slope: number, hasSlope: number): void;
  addAct(a: number, b: number, y: number, n: number, slope: number, hasSlope: number): void;
  headPermute(x: number, y: number, c: number, hw: number, pStart: number, pEnd: number): void;
  winoPad(x: number, h: number, w: number, xpad: number, rowsP: number, wP: number, cStart: number, cEnd: number): void;
  winoInput(xpad: number, rowsP: number, wP: number, cIn: number, ty0: number, ty1: number, tW4: number, v: number): void;
  winoOutput(m: number, cOut: number, ty0: number, ty1: number, tW4: number, y: number, h: number, w: number,
    bias: number, slope: number, hasSlope: number): void;
  depthwise3x3s1(x: number, w: number, bias: number, y: number, h: number, wd: number, hOut: number, wOut: number,
    cStart: number, cEnd: number, plane: number, slope: number, hasSlope: number): void;
  depthwise3x3s2(x: number, w: number, bias: number, y: number, h: number, wd: number, hOut: number, wOut: number,
    cStart: number, cEnd: number, plane: number, slope: number, hasSlope: number): void;
}

/** Emits `dst = max(dst, dst * slope)` (LeakyReLU for 0 <= slope <= 1) for each v128 local. */
function emitLeaky(c: Code, locals: number[], slopeV: number): void {
  for (const v of locals) c.localGet(v).localGet(v).localGet(slopeV).f32x4Mul().f32x4Max().localSet(v);
}

/**
 * Stores `count` floats of consecutive v128 locals at address local `addr` when rem >= count,
 * else lane by lane while lane < rem (the partial tile at the end of a row).
 */
function emitStoreVectors(c: Code, addr: number, vecs: number[], rem: number): void {
  c.localGet(rem).i32Const(vecs.length * 4).i32GeS().if(() => {
    vecs.forEach((v, i) => c.localGet(addr).localGet(v).v128Store(16 * i));
  }, () => {
    for (let l = 0; l < vecs.length * 4; l++) {
      c.localGet(rem).i32Const(l).i32GtS().if(() => {
        c.localGet(addr).localGet(vecs[l >> 2]!).v128Store32Lane(l & 3, 4 * l);
      });
    }
  });
}

function emitGemm(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32', 'i32']);
  const [w, x, xStride, y, yStride, bias, K, ocCount, n, slope, hasSlope, blockBytes] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const ob = c.local('i32'), j = c.local('i32'), wp = c.local('i32'), xp = c.local('i32'), wEnd = c.local('i32');
  const xStep = c.local('i32'), panelBytes = c.local('i32'), rem = c.local('i32'), yp = c.local('i32'), oc = c.local('i32');
  const acc = Array.from({ length: GEMM_MR }, () => Array.from({ length: GEMM_COLS }, () => c.local('v128')));
  const b = Array.from({ length: GEMM_COLS }, () => c.local('v128'));
  const a = c.local('v128'), slopeV = c.local('v128');

  c.localGet(xStride).i32Const(2).i32Shl().localSet(xStep);
  c.localGet(K).i32Const(4 * GEMM_MR).i32Mul().localSet(panelBytes);
  c.localGet(slope).f32x4Splat().localSet(slopeV);
  c.forRange(ob, () => c.i32Const(0), () => c.localGet(ocCount).i32Const(GEMM_MR - 1).i32Add().i32Const(2).i32ShrU(), 1, () => {
    c.forRange(j, () => c.i32Const(0), () => c.localGet(n), GEMM_NR, () => {
      // acc = bias of the panel's rows
      for (let r = 0; r < GEMM_MR; r++) {
        c.localGet(bias).localGet(ob).i32Const(4 * GEMM_MR).i32Mul().i32Add().v128Load32Splat(4 * r).localSet(a);
        for (const v of acc[r]!) c.localGet(a).localSet(v);
      }
      c.localGet(w).localGet(ob).localGet(panelBytes).i32Mul().i32Add().localTee(wp).localGet(panelBytes).i32Add().localSet(wEnd);
      c.localGet(x).localGet(j).i32Const(GEMM_NR).i32DivU().localGet(blockBytes).i32Mul().i32Add().localSet(xp);
      c.loop(() => {
        b.forEach((v, i) => c.localGet(xp).v128Load(16 * i).localSet(v));
        for (let r = 0; r < GEMM_MR; r++) {
          c.localGet(wp).v128Load32Splat(4 * r).localSet(a);
          acc[r]!.forEach((v, i) => c.localGet(v).localGet(a).localGet(b[i]!).f32x4Mul().f32x4Add().localSet(v));
        }
        c.localGet(xp).localGet(xStep).i32Add().localSet(xp);
        c.localGet(wp).i32Const(4 * GEMM_MR).i32Add().localTee(wp).localGet(wEnd).i32LtU().brIf(0);
      });
      c.localGet(hasSlope).if(() => emitLeaky(c, acc.flat(), slopeV));
      c.localGet(n).localGet(j).i32Sub().localSet(rem);
      for (let r = 0; r < GEMM_MR; r++) {
        c.localGet(ob).i32Const(GEMM_MR).i32Mul().i32Const(r).i32Add().localTee(oc).localGet(ocCount).i32LtS().if(() => {
          c.localGet(y).localGet(oc).localGet(yStride).i32Mul().localGet(j).i32Add().i32Const(2).i32Shl().i32Add().localSet(yp);
          emitStoreVectors(c, yp, acc[r]!, rem);
        });
      }
    });
  });
  return c;
}

/**
 * packB(x, xStride, K, n, dst): B (K x n, row stride xStride floats) into NR-pixel panels,
 * dst[(jb * K + k) * NR + l] = B[k][jb NR + l], so that gemm (blockBytes = K NR 4, xStride = NR)
 * reads each panel front to back. The last panel's lanes past n are copied garbage, never stored.
 */
function emitPackB(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, xStride, K, n, dst] = [0, 1, 2, 3, 4];
  const k = c.local('i32'), j = c.local('i32'), src = c.local('i32'), out = c.local('i32'), blockBytes = c.local('i32');
  c.localGet(K).i32Const(4 * GEMM_NR).i32Mul().localSet(blockBytes);
  c.forRange(k, () => c.i32Const(0), () => c.localGet(K), 1, () => {
    c.localGet(x).localGet(k).localGet(xStride).i32Mul().i32Const(2).i32Shl().i32Add().localSet(src);
    c.localGet(dst).localGet(k).i32Const(4 * GEMM_NR).i32Mul().i32Add().localSet(out);
    c.forRange(j, () => c.i32Const(0), () => c.localGet(n), GEMM_NR, () => {
      for (let i = 0; i < GEMM_COLS; i++) c.localGet(out).localGet(src).v128Load(16 * i).v128Store(16 * i);
      c.localGet(src).i32Const(4 * GEMM_NR).i32Add().localSet(src);
      c.localGet(out).localGet(blockBytes).i32Add().localSet(out);
    });
  });
  return c;
}

function emitIm2col(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, H, W, cIn, kSize, stride, pad, wOut, p0, n, T, col] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const ic = c.local('i32'), kh = c.local('i32'), kw = c.local('i32'), dst = c.local('i32');
  const oh = c.local('i32'), ow = c.local('i32'), jj = c.local('i32'), run = c.local('i32');
  const ih = c.local('i32'), iw = c.local('i32'), q = c.local('i32'), src = c.local('i32'), rowBytes = c.local('i32'), cnt = c.local('i32');
  c.localGet(T).i32Const(2).i32Shl().localSet(rowBytes);
  c.localGet(col).localSet(dst);
  c.forRange(ic, () => c.i32Const(0), () => c.localGet(cIn), 1, () => {
    c.forRange(kh, () => c.i32Const(0), () => c.localGet(kSize), 1, () => {
      c.forRange(kw, () => c.i32Const(0), () => c.localGet(kSize), 1, () => {
        c.localGet(p0).localGet(wOut).i32DivU().localSet(oh);
        c.localGet(p0).localGet(wOut).i32RemU().localSet(ow);
        c.i32Const(0).localSet(jj);
        // One output row's run of the tile at a time: [zeros | input row, strided | zeros].
        c.block(() => c.loop(() => {
          c.localGet(jj).localGet(n).i32GeS().brIf(1);
          // run = min(wOut - ow, n - jj)
          c.localGet(wOut).localGet(ow).i32Sub().localSet(run);
          c.localGet(n).localGet(jj).i32Sub().localGet(run)
            .localGet(run).localGet(n).localGet(jj).i32Sub().i32GtS().select().localSet(run);
          c.localGet(oh).localGet(stride).i32Mul().localGet(pad).i32Sub().localGet(kh).i32Add().localSet(ih);
          c.i32Const(0).localSet(q);
          c.localGet(ih).localGet(H).i32LtU().if(() => {
            c.localGet(x).localGet(ic).localGet(H).i32Mul().localGet(ih).i32Add().localGet(W).i32Mul().i32Const(2).i32Shl().i32Add().localSet(src);
            c.localGet(ow).localGet(stride).i32Mul().localGet(pad).i32Sub().localGet(kw).i32Add().localSet(iw);
            // zeros while iw < 0
            c.block(() => c.loop(() => {
              c.localGet(q).localGet(run).i32GeS().brIf(1);
              c.localGet(iw).i32Const(0).i32GeS().brIf(1);
              c.localGet(dst).localGet(jj).localGet(q).i32Add().i32Const(2).i32Shl().i32Add().f32Const(0).f32Store();
              c.localGet(q).i32Const(1).i32Add().localSet(q);
              c.localGet(iw).localGet(stride).i32Add().localSet(iw).br(0);
            }));
            // the input row while iw < W: one memory.copy at stride 1, else a strided gather
            c.localGet(stride).i32Const(1).i32Eq().if(() => {
              // cnt = min(run - q, W - iw), never negative: q <= run and iw >= 0 here
              c.localGet(run).localGet(q).i32Sub().localSet(cnt);
              c.localGet(W).localGet(iw).i32Sub().localGet(cnt).localGet(cnt).localGet(W).localGet(iw).i32Sub().i32GtS().select().localSet(cnt);
              c.localGet(cnt).i32Const(0).i32GtS().if(() => {
                c.localGet(dst).localGet(jj).localGet(q).i32Add().i32Const(2).i32Shl().i32Add();
                c.localGet(src).localGet(iw).i32Const(2).i32Shl().i32Add();
                c.localGet(cnt).i32Const(2).i32Shl().memoryCopy();
                c.localGet(q).localGet(cnt).i32Add().localSet(q);
                c.localGet(iw).localGet(cnt).i32Add().localSet(iw);
              });
            });
            c.block(() => c.loop(() => {
              c.localGet(q).localGet(run).i32GeS().brIf(1);
              c.localGet(iw).localGet(W).i32GeS().brIf(1);
              c.localGet(dst).localGet(jj).localGet(q).i32Add().i32Const(2).i32Shl().i32Add();
              c.localGet(src).localGet(iw).i32Const(2).i32Shl().i32Add().f32Load().f32Store();
              c.localGet(q).i32Const(1).i32Add().localSet(q);
              c.localGet(iw).localGet(stride).i32Add().localSet(iw).br(0);
            }));
          });
          // zeros for the rest (all of it when the input row is padding)
          c.block(() => c.loop(() => {
            c.localGet(q).localGet(run).i32GeS().brIf(1);
            c.localGet(dst).localGet(jj).localGet(q).i32Add().i32Const(2).i32Shl().i32Add().f32Const(0).f32Store();
            c.localGet(q).i32Const(1).i32Add().localSet(q).br(0);
          }));
          c.localGet(jj).localGet(run).i32Add().localSet(jj);
          c.i32Const(0).localSet(ow);
          c.localGet(oh).i32Const(1).i32Add().localSet(oh);
          c.br(0);
        }));
        c.localGet(dst).localGet(rowBytes).i32Add().localSet(dst);
      });
    });
  });
  return c;
}

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

function emitDepthwise(stride: 1 | 2): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32']);
  const [x, w, bias, y, H, W, hOut, wOut, cStart, cEnd, plane, slope, hasSlope] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const ch = c.local('i32'), r = c.local('i32'), rowBytes = c.local('i32'), src = c.local('i32'), dst = c.local('i32');
  const oh = c.local('i32'), ow = c.local('i32'), r0 = c.local('i32'), p = c.local('i32'), yRow = c.local('i32'), rem = c.local('i32');
  const oh0 = c.local('i32'), ohEnd = c.local('i32'), ih = c.local('i32');
  const wv = Array.from({ length: 9 }, () => c.local('v128'));
  const bv = c.local('v128'), acc = c.local('v128'), slopeV = c.local('v128');
  const va = c.local('v128'), vb = c.local('v128'), vc = c.local('v128'), vd = c.local('v128');

  c.localGet(slope).f32x4Splat().localSet(slopeV);
  c.localGet(W).i32Const(2 + DW_PLANE_SLACK).i32Add().i32Const(2).i32Shl().localSet(rowBytes);
  c.forRange(ch, () => c.localGet(cStart), () => c.localGet(cEnd), 1, () => {
    wv.forEach((v, i) => c.localGet(w).localGet(ch).i32Const(36).i32Mul().i32Add().v128Load32Splat(4 * i).localSet(v));
    c.localGet(bias).localGet(ch).i32Const(2).i32Shl().i32Add().v128Load32Splat().localSet(bv);
    c.localGet(x).localGet(ch).localGet(H).i32Mul().localGet(W).i32Mul().i32Const(2).i32Shl().i32Add().localSet(src);
    c.forRange(oh0, () => c.i32Const(0), () => c.localGet(hOut), DW_BAND, () => {
      // The band's input rows ih = oh0 s - 1 + q, q < (DW_BAND - 1) s + 3, zero-bordered
      // (columns 0 and W + 1), rows outside the image all zero.
      c.forRange(r, () => c.i32Const(0), () => c.i32Const((DW_BAND - 1) * stride + 3), 1, () => {
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
      c.localGet(oh0).i32Const(DW_BAND).i32Add().localTee(ohEnd).localGet(hOut).localGet(ohEnd).localGet(hOut).i32LtS().select().localSet(ohEnd);
      c.forRange(oh, () => c.localGet(oh0), () => c.localGet(ohEnd), 1, () => {
        c.localGet(plane).localGet(oh).localGet(oh0).i32Sub().i32Const(stride).i32Mul().localGet(rowBytes).i32Mul().i32Add().localSet(r0);
        c.localGet(y).localGet(ch).localGet(hOut).i32Mul().localGet(oh).i32Add().localGet(wOut).i32Mul().i32Const(2).i32Shl().i32Add().localSet(yRow);
        c.forRange(ow, () => c.i32Const(0), () => c.localGet(wOut), 4, () => {
          c.localGet(bv).localSet(acc);
          for (let kh = 0; kh < 3; kh++) {
            c.localGet(r0).localGet(rowBytes).i32Const(kh).i32Mul().i32Add().localGet(ow).i32Const(stride === 1 ? 2 : 3).i32Shl().i32Add().localSet(p);
            if (stride === 1) {
              for (let kw = 0; kw < 3; kw++) {
                c.localGet(acc).localGet(wv[kh * 3 + kw]!).localGet(p).v128Load(4 * kw).f32x4Mul().f32x4Add().localSet(acc);
              }
            } else {
              // Output ow + l reads plane columns 2 (ow + l) + kw: kw 0 = even lanes of [p, p + 8),
              // kw 1 = odd lanes, kw 2 = even lanes of [p + 2, p + 10).
              c.localGet(p).v128Load(0).localSet(va).localGet(p).v128Load(16).localSet(vb);
              c.localGet(p).v128Load(8).localSet(vc).localGet(p).v128Load(24).localSet(vd);
              c.localGet(acc).localGet(wv[kh * 3]!).localGet(va).localGet(vb).f32x4Shuffle(0, 2, 4, 6).f32x4Mul().f32x4Add().localSet(acc);
              c.localGet(acc).localGet(wv[kh * 3 + 1]!).localGet(va).localGet(vb).f32x4Shuffle(1, 3, 5, 7).f32x4Mul().f32x4Add().localSet(acc);
              c.localGet(acc).localGet(wv[kh * 3 + 2]!).localGet(vc).localGet(vd).f32x4Shuffle(0, 2, 4, 6).f32x4Mul().f32x4Add().localSet(acc);
            }
          }
          c.localGet(hasSlope).if(() => emitLeaky(c, [acc], slopeV));
          c.localGet(wOut).localGet(ow).i32Sub().localSet(rem);
          c.localGet(yRow).localGet(ow).i32Const(2).i32Shl().i32Add().localSet(p);
          emitStoreVectors(c, p, [acc], rem);
        });
      });
    });
  });
  return c;
}

/**
 * actCopy(a, y, n, slope, hasSlope): y = leaky(a); addAct(a, b, y, n, slope, hasSlope):
 * y = leaky(a + b) (leaky only when hasSlope). 4 floats per vector, then a scalar tail.
 */
function emitElementwise(withB: boolean): Code {
  const c = withB ? new Code(['i32', 'i32', 'i32', 'i32', 'f32', 'i32']) : new Code(['i32', 'i32', 'i32', 'f32', 'i32']);
  const [a, b, y, n, slope, hasSlope] = withB ? [0, 1, 2, 3, 4, 5] : [0, -1, 1, 2, 3, 4];
  const i = c.local('i32'), v = c.local('v128'), slopeV = c.local('v128'), s = c.local('f32');
  c.localGet(slope).f32x4Splat().localSet(slopeV);
  const loops = (act: boolean) => {
    c.forRange(i, () => c.i32Const(0), () => c.localGet(n).i32Const(3).i32Sub(), 4, () => {
      c.localGet(a).localGet(i).i32Const(2).i32Shl().i32Add().v128Load();
      if (withB) c.localGet(b).localGet(i).i32Const(2).i32Shl().i32Add().v128Load().f32x4Add();
      c.localSet(v);
      if (act) emitLeaky(c, [v], slopeV);
      c.localGet(y).localGet(i).i32Const(2).i32Shl().i32Add().localGet(v).v128Store();
    });
    c.block(() => c.loop(() => {
      c.localGet(i).localGet(n).i32GeS().brIf(1);
      c.localGet(a).localGet(i).i32Const(2).i32Shl().i32Add().f32Load();
      if (withB) c.localGet(b).localGet(i).i32Const(2).i32Shl().i32Add().f32Load().f32Add();
      c.localSet(s);
      if (act) c.localGet(s).localGet(s).localGet(slope).f32Mul().f32Max().localSet(s);
      c.localGet(y).localGet(i).i32Const(2).i32Shl().i32Add().localGet(s).f32Store();
      c.localGet(i).i32Const(1).i32Add().localSet(i).br(0);
    }));
  };
  c.localGet(hasSlope).if(() => loops(true), () => loops(false));
  return c;
}

/** headPermute(x, y, c, hw, pStart, pEnd): y[p * c + ch] = x[ch * hw + p] for pixels [pStart, pEnd). */
function emitHeadPermute(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, y, C, hw, pStart, pEnd] = [0, 1, 2, 3, 4, 5];
  const p = c.local('i32'), ch = c.local('i32'), src = c.local('i32'), dst = c.local('i32'), planeBytes = c.local('i32');
  c.localGet(hw).i32Const(2).i32Shl().localSet(planeBytes);
  c.forRange(p, () => c.localGet(pStart), () => c.localGet(pEnd), 1, () => {
    c.localGet(x).localGet(p).i32Const(2).i32Shl().i32Add().localSet(src);
    c.localGet(y).localGet(p).localGet(C).i32Mul().i32Const(2).i32Shl().i32Add().localSet(dst);
    c.forRange(ch, () => c.i32Const(0), () => c.localGet(C), 1, () => {
      c.localGet(dst).localGet(src).f32Load().f32Store();
      c.localGet(src).localGet(planeBytes).i32Add().localSet(src);
      c.localGet(dst).i32Const(4).i32Add().localSet(dst);
    });
  });
  return c;
}

// --- Winograd F(2x2, 3x3) for dense 3x3 stride-1 convolutions (Lavin & Gray 2016) -------------
// Each 2x2 output tile comes from a 4x4 input tile d: Y = A^T [sum_ic U (.) V] A with
// U = G g G^T (weights, transformed at prepare) and V = B^T d B, so the 36 multiply-adds per
// tile, input and output channel become 16: 16 GEMMs M_xi (C_out x tiles) = U_xi (C_out x C_in)
// V_xi (C_in x tiles), one per transform position xi, run by gemm over chunks of tile rows.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// Transforms run on 4 horizontally adjacent tiles per vector: tile columns are padded to a
// multiple of 4 (tW4) so every vector is whole; the output transform stores only pixels inside.

/** Geometry of a Winograd convolution on an (H, W) input. */
export function winogradGeometry(h: number, w: number): { tH: number; tW4: number; rowsP: number; wP: number } {
  const tH = Math.ceil(h / 2), tW = Math.ceil(w / 2);
  const tW4 = Math.ceil(tW / 4) * 4;
  // Padded plane: zero row and column before the input, zeros after up to the last tile's
  // 4x4 window (row 2 tH + 1) and the last vector's column reads (2 tW4 + 1).
  return { tH, tW4, rowsP: 2 * tH + 2, wP: 2 * tW4 + 4 };
}

/** winoPad(x, H, W, xpad, rowsP, wP, cStart, cEnd): channels of x into zeroed (rowsP, wP) planes at (1, 1). */
function emitWinoPad(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, H, W, xpad, rowsP, wP, cStart, cEnd] = [0, 1, 2, 3, 4, 5, 6, 7];
  const ch = c.local('i32'), r = c.local('i32'), src = c.local('i32'), plane = c.local('i32'), planeBytes = c.local('i32');
  c.localGet(rowsP).localGet(wP).i32Mul().i32Const(2).i32Shl().localSet(planeBytes);
  c.forRange(ch, () => c.localGet(cStart), () => c.localGet(cEnd), 1, () => {
    c.localGet(xpad).localGet(ch).localGet(planeBytes).i32Mul().i32Add().localTee(plane).i32Const(0).localGet(planeBytes).memoryFill();
    c.localGet(x).localGet(ch).localGet(H).i32Mul().localGet(W).i32Mul().i32Const(2).i32Shl().i32Add().localSet(src);
    c.forRange(r, () => c.i32Const(0), () => c.localGet(H), 1, () => {
      c.localGet(plane).localGet(r).i32Const(1).i32Add().localGet(wP).i32Mul().i32Const(1).i32Add().i32Const(2).i32Shl().i32Add();
      c.localGet(src).localGet(W).i32Const(2).i32Shl().memoryCopy();
      c.localGet(src).localGet(W).i32Const(2).i32Shl().i32Add().localSet(src);
    });
  });
  return c;
}

/** winoInput(xpad, rowsP, wP, cIn, ty0, ty1, tW4, v): V[xi][ic][t], t = (ty - ty0) tW4 + tx. */
function emitWinoInput(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [xpad, rowsP, wP, cIn, ty0, ty1, tW4, v] = [0, 1, 2, 3, 4, 5, 6, 7];
  const ic = c.local('i32'), ty = c.local('i32'), tx = c.local('i32'), p = c.local('i32'), out = c.local('i32');
  const nt = c.local('i32'), xiBytes = c.local('i32'), rowBytes = c.local('i32');
  const d = Array.from({ length: 16 }, () => c.local('v128'));
  const e = Array.from({ length: 16 }, () => c.local('v128'));
  const va = c.local('v128'), vb = c.local('v128'), vc = c.local('v128'), vd = c.local('v128');
  const sub = (x: number, y: number) => c.localGet(x).localGet(y).f32x4Sub();
  const add = (x: number, y: number) => c.localGet(x).localGet(y).f32x4Add();
  c.localGet(ty1).localGet(ty0).i32Sub().localGet(tW4).i32Mul().localSet(nt);
  c.localGet(nt).localGet(cIn).i32Mul().i32Const(2).i32Shl().localSet(xiBytes);
  c.localGet(wP).i32Const(2).i32Shl().localSet(rowBytes);
  c.forRange(ic, () => c.i32Const(0), () => c.localGet(cIn), 1, () => {
    c.forRange(ty, () => c.localGet(ty0), () => c.localGet(ty1), 1, () => {
      c.forRange(tx, () => c.i32Const(0), () => c.localGet(tW4), 4, () => {
        // d[i][j] for 4 tiles: plane row 2 ty + i, columns 2 (tx + l) + j.
        c.localGet(xpad).localGet(ic).localGet(rowsP).i32Mul().localGet(ty).i32Const(1).i32Shl().i32Add().localGet(rowBytes).i32Mul().i32Add()
          .localGet(tx).i32Const(3).i32Shl().i32Add().localSet(p);
        for (let i = 0; i < 4; i++) {
          c.localGet(p).v128Load(0).localSet(va).localGet(p).v128Load(16).localSet(vb);
          c.localGet(p).v128Load(8).localSet(vc).localGet(p).v128Load(24).localSet(vd);
          c.localGet(va).localGet(vb).f32x4Shuffle(0, 2, 4, 6).localSet(d[i * 4]!);
          c.localGet(va).localGet(vb).f32x4Shuffle(1, 3, 5, 7).localSet(d[i * 4 + 1]!);
          c.localGet(vc).localGet(vd).f32x4Shuffle(0, 2, 4, 6).localSet(d[i * 4 + 2]!);
          c.localGet(vc).localGet(vd).f32x4Shuffle(1, 3, 5, 7).localSet(d[i * 4 + 3]!);
          if (i < 3) c.localGet(p).localGet(rowBytes).i32Add().localSet(p);
        }
        // e = B^T d (rows), then V = e B (columns).
        for (let j = 0; j < 4; j++) {
          const dd = (i: number) => d[i * 4 + j]!;
          sub(dd(0), dd(2)).localSet(e[j]!);
          add(dd(1), dd(2)).localSet(e[4 + j]!);
          sub(dd(2), dd(1)).localSet(e[8 + j]!);
          sub(dd(1), dd(3)).localSet(e[12 + j]!);
        }
        c.localGet(v).localGet(ic).localGet(nt).i32Mul().localGet(ty).localGet(ty0).i32Sub().localGet(tW4).i32Mul().i32Add().localGet(tx).i32Add()
          .i32Const(2).i32Shl().i32Add().localSet(out);
        for (let i = 0; i < 4; i++) {
          const ee = (j: number) => e[i * 4 + j]!;
          const vals: [number, number, 'sub' | 'add'][] = [[ee(0), ee(2), 'sub'], [ee(1), ee(2), 'add'], [ee(2), ee(1), 'sub'], [ee(1), ee(3), 'sub']];
          vals.forEach(([x, y, op], j) => {
            c.localGet(out);
            (op === 'sub' ? sub(x, y) : add(x, y)).v128Store();
            if (i * 4 + j < 15) c.localGet(out).localGet(xiBytes).i32Add().localSet(out);
          });
        }
      });
    });
  });
  return c;
}

/** winoOutput(m, cOut, ty0, ty1, tW4, y, H, W, bias, slope, hasSlope): Y tiles = A^T M A + bias, leaky. */
function emitWinoOutput(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32']);
  const [m, cOut, ty0, ty1, tW4, y, H, W, bias, slope, hasSlope] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const oc = c.local('i32'), ty = c.local('i32'), tx = c.local('i32'), p = c.local('i32'), nt = c.local('i32'), xiBytes = c.local('i32');
  const oh = c.local('i32'), yp = c.local('i32'), rem = c.local('i32');
  const mv = Array.from({ length: 16 }, () => c.local('v128'));
  const t = Array.from({ length: 8 }, () => c.local('v128'));
  const o = Array.from({ length: 4 }, () => c.local('v128'));
  const lo = c.local('v128'), hi = c.local('v128'), bv = c.local('v128'), slopeV = c.local('v128');
  c.localGet(slope).f32x4Splat().localSet(slopeV);
  c.localGet(ty1).localGet(ty0).i32Sub().localGet(tW4).i32Mul().localSet(nt);
  c.localGet(nt).localGet(cOut).i32Mul().i32Const(2).i32Shl().localSet(xiBytes);
  c.forRange(oc, () => c.i32Const(0), () => c.localGet(cOut), 1, () => {
    c.localGet(bias).localGet(oc).i32Const(2).i32Shl().i32Add().v128Load32Splat().localSet(bv);
    c.forRange(ty, () => c.localGet(ty0), () => c.localGet(ty1), 1, () => {
      c.forRange(tx, () => c.i32Const(0), () => c.localGet(tW4), 4, () => {
        c.localGet(m).localGet(oc).localGet(nt).i32Mul().localGet(ty).localGet(ty0).i32Sub().localGet(tW4).i32Mul().i32Add().localGet(tx).i32Add()
          .i32Const(2).i32Shl().i32Add().localSet(p);
        mv.forEach((v, xi) => {
          c.localGet(p).v128Load().localSet(v);
          if (xi < 15) c.localGet(p).localGet(xiBytes).i32Add().localSet(p);
        });
        // t = A^T M (rows): t0 = m0 + m1 + m2, t1 = m1 - m2 - m3, per column j.
        for (let j = 0; j < 4; j++) {
          const mm = (i: number) => mv[i * 4 + j]!;
          c.localGet(mm(0)).localGet(mm(1)).f32x4Add().localGet(mm(2)).f32x4Add().localSet(t[j]!);
          c.localGet(mm(1)).localGet(mm(2)).f32x4Sub().localGet(mm(3)).f32x4Sub().localSet(t[4 + j]!);
        }
        // o[a][b] = (t A)[a][b] + bias
        for (let a = 0; a < 2; a++) {
          const tt = (j: number) => t[a * 4 + j]!;
          c.localGet(tt(0)).localGet(tt(1)).f32x4Add().localGet(tt(2)).f32x4Add().localGet(bv).f32x4Add().localSet(o[a * 2]!);
          c.localGet(tt(1)).localGet(tt(2)).f32x4Sub().localGet(tt(3)).f32x4Sub().localGet(bv).f32x4Add().localSet(o[a * 2 + 1]!);
        }
        c.localGet(hasSlope).if(() => emitLeaky(c, o, slopeV));
        c.localGet(W).localGet(tx).i32Const(1).i32Shl().i32Sub().localSet(rem);
        for (let a = 0; a < 2; a++) {
          // Output row 2 ty + a, columns 2 (tx + l) + b: interleave o[a][0] and o[a][1].
          c.localGet(ty).i32Const(1).i32Shl().i32Const(a).i32Add().localTee(oh).localGet(H).i32LtS().if(() => {
            c.localGet(o[a * 2]!).localGet(o[a * 2 + 1]!).f32x4Shuffle(0, 4, 1, 5).localSet(lo);
            c.localGet(o[a * 2]!).localGet(o[a * 2 + 1]!).f32x4Shuffle(2, 6, 3, 7).localSet(hi);
            c.localGet(y).localGet(oc).localGet(H).i32Mul().localGet(oh).i32Add().localGet(W).i32Mul().localGet(tx).i32Const(1).i32Shl().i32Add()
              .i32Const(2).i32Shl().i32Add().localSet(yp);
            c.localGet(rem).i32Const(0).i32GtS().if(() => emitStoreVectors(c, yp, [lo, hi], rem));
          });
        }
      });
    });
  });
  return c;
}

/** Winograd weights: U_xi = (G g G^T)[xi] for every (oc, ic), each xi packed into gemm's panels. */
export function winogradWeights(w: Float32Array, cOut: number, cIn: number): Float32Array {
  const per = packedDenseFloats(cOut, cIn);
  const out = new Float32Array(16 * per);
  const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];
  const u = Array.from({ length: 16 }, () => new Float32Array(cOut * cIn));
  for (let oc = 0; oc < cOut; oc++) {
    for (let ic = 0; ic < cIn; ic++) {
      const g = (kh: number, kw: number) => w[((oc * cIn + ic) * 3 + kh) * 3 + kw]!;
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) {
          let acc = 0;
          for (let kh = 0; kh < 3; kh++) for (let kw = 0; kw < 3; kw++) acc += G[i]![kh]! * g(kh, kw) * G[j]![kw]!;
          u[i * 4 + j]![oc * cIn + ic] = acc;
        }
      }
    }
  }
  u.forEach((m, xi) => packDenseWeights(m, cOut, out.subarray(xi * per, (xi + 1) * per)));
  return out;
}

/** Tile rows per chunk: about 96 tiles, so that a chunk's V and M stay in L2. */
function winogradChunkRows(tW4: number): number {
  return Math.max(1, Math.round(96 / tW4));
}

export interface WinogradArgs {
  x: number; cIn: number; h: number; w: number; cOut: number; y: number;
  /** winogradWeights in the arena, a zero bias of ceil(C_out / 4) * 4 floats, the folded bias. */
  weights: number; zeros: number; bias: number;
  slope: number; hasSlope: number;
  /** The padded input (shared), then per thread: V and M of one chunk. */
  xpad: number; scratch: number; scratchBytes: number;
}

/** Bytes of the padded input, and of one thread's V + M chunk scratch. */
export function winogradScratchBytes(cIn: number, cOut: number, h: number, w: number): { xpad: number; perThread: number } {
  const g = winogradGeometry(h, w);
  const nt = winogradChunkRows(g.tW4) * g.tW4;
  return { xpad: cIn * g.rowsP * g.wP * 4, perThread: 16 * (cIn + cOut) * nt * 4 };
}

export function winogradPadPart(k: SimdExports, a: WinogradArgs, t: number, nThreads: number): void {
  const g = winogradGeometry(a.h, a.w);
  const [lo, hi] = share(a.cIn, 1, t, nThreads);
  if (lo < hi) k.winoPad(a.x, a.h, a.w, a.xpad, g.rowsP, g.wP, lo, hi);
}

export function winogradPart(k: SimdExports, a: WinogradArgs, t: number, nThreads: number): void {
  const g = winogradGeometry(a.h, a.w);
  const rows = Math.min(winogradChunkRows(g.tW4), Math.ceil(g.tH / nThreads));
  const [lo, hi] = share(g.tH, rows, t, nThreads);
  const v = a.scratch + t * a.scratchBytes;
  const perXi = packedDenseFloats(a.cOut, a.cIn) * 4;
  for (let ty0 = lo; ty0 < hi; ty0 += rows) {
    const ty1 = Math.min(hi, ty0 + rows);
    const nt = (ty1 - ty0) * g.tW4;
    const m = v + 16 * a.cIn * nt * 4;
    k.winoInput(a.xpad, g.rowsP, g.wP, a.cIn, ty0, ty1, g.tW4, v);
    for (let xi = 0; xi < 16; xi++) {
      k.gemm(a.weights + xi * perXi, v + xi * a.cIn * nt * 4, nt, m + xi * a.cOut * nt * 4, nt, a.zeros, a.cIn, a.cOut, nt, 0, 0, ROW_MAJOR_BLOCK);
    }
    k.winoOutput(m, a.cOut, ty0, ty1, g.tW4, a.y, a.h, a.w, a.bias, a.slope, a.hasSlope);
  }
}

/** The kernel module's bytes, importing the given memory as ("env", "memory"). */
export function buildSimdModule(memory: MemoryImport): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder({ memory });
  m.addFunction('gemm', emitGemm());
  m.addFunction('im2col', emitIm2col());
  m.addFunction('packB', emitPackB());
  m.addFunction('actCopy', emitElementwise(false));
  m.addFunction('addAct', emitElementwise(true));
  m.addFunction('headPermute', emitHeadPermute());
  m.addFunction('winoPad', emitWinoPad());
  m.addFunction('winoInput', emitWinoInput());
  m.addFunction('winoOutput', emitWinoOutput());
  m.addFunction('depthwise3x3s1', emitDepthwise(1));
  m.addFunction('depthwise3x3s2', emitDepthwise(2));
  return m.toBytes();
}

/** Floats of a weight tensor packed into MR-row panels: ceil(C_out / MR) * MR * K. */
export function packedDenseFloats(cOut: number, k: number): number {
  return Math.ceil(cOut / GEMM_MR) * GEMM_MR * k;
}

/** Packs w (C_out x K, row-major) into panels: out[(ob * K + k) * MR + r] = w[MR ob + r][k], zero rows past C_out. */
export function packDenseWeights(w: Float32Array, cOut: number, out: Float32Array): void {
  const k = w.length / cOut;
  out.fill(0);
  for (let oc = 0; oc < cOut; oc++) {
    const ob = Math.floor(oc / GEMM_MR), r = oc % GEMM_MR;
    for (let i = 0; i < k; i++) out[(ob * k + i) * GEMM_MR + r] = w[oc * k + i]!;
  }
}

/**
 * Output pixels per GEMM tile: the K x T block of B stays within about 256 KB (L2). Measured at
 * K = 576 (64 -> 64, 3x3): T = 112 beat 56 by ~8% and 224 or 448 by ~15% (noisy, 2 cores shared).
 */
export function gemmTile(k: number): number {
  return Math.max(GEMM_NR, Math.min(1024, Math.floor(65536 / k / GEMM_NR) * GEMM_NR));
}

/** A dense convolution's geometry and where its packed weights live. */
export interface DenseConvArgs {
  x: number; cIn: number; h: number; w: number;
  kSize: number; stride: number; pad: number; hOut: number; wOut: number;
  weights: number; bias: number; cOut: number; y: number;
  slope: number; hasSlope: number;
  /** Per-thread im2col / packB scratch: thread t uses scratch + t * scratchBytes. */
  scratch: number; scratchBytes: number;
}

/** The share [start, end) of n items for thread t of nThreads, in whole units of `grain`. */
export function share(n: number, grain: number, t: number, nThreads: number): [number, number] {
  const units = Math.ceil(n / grain);
  const lo = Math.floor((units * t) / nThreads) * grain;
  const hi = Math.min(n, Math.floor((units * (t + 1)) / nThreads) * grain);
  return [lo, Math.max(lo, hi)];
}

/**
 * 1x1 stride 1: each tile of the input (K x T, rows H W apart) is first copied into NR-pixel
 * panels (packB) that gemm reads front to back. Measured per tile against reading the rows in
 * place and against a row-major copy (one thread, GFLOP/s): 32 -> 64 at 160x160 19.7 / 6.5 / 9.0,
 * 128 -> 128 at 40x40 29.5 / 24.3 / 18.3, 256 -> 64 at 160x160 9.5 / 6.2 / 7.9; never worse.
 * Rows of a whole number of pages apart share cache sets, which the copy avoids.
 */
function isPointwise(kSize: number, stride: number, pad: number): boolean {
  return kSize === 1 && stride === 1 && pad === 0;
}

/** Thread t's part of a dense convolution: whole GEMM tiles of output pixels. */
export function denseConvPart(k: SimdExports, a: DenseConvArgs, t: number, nThreads: number): void {
  const K = a.cIn * a.kSize * a.kSize;
  const P = a.hOut * a.wOut;
  // Smaller tiles on small maps, so that every thread gets some (im2col's row stride stays T).
  const T = gemmTile(K);
  const tile = Math.min(T, Math.ceil(P / nThreads / GEMM_NR) * GEMM_NR);
  const [lo, hi] = share(P, tile, t, nThreads);
  const pointwise = isPointwise(a.kSize, a.stride, a.pad);
  const col = a.scratch + t * a.scratchBytes;
  for (let p0 = lo; p0 < hi; p0 += tile) {
    const n = Math.min(tile, hi - p0);
    if (pointwise) {
      k.packB(a.x + 4 * p0, P, K, n, col);
      k.gemm(a.weights, col, GEMM_NR, a.y + 4 * p0, P, a.bias, K, a.cOut, n, a.slope, a.hasSlope, 4 * GEMM_NR * K);
    } else {
      k.im2col(a.x, a.h, a.w, a.cIn, a.kSize, a.stride, a.pad, a.wOut, p0, n, T, col);
      k.gemm(a.weights, col, T, a.y + 4 * p0, P, a.bias, K, a.cOut, n, a.slope, a.hasSlope, ROW_MAJOR_BLOCK);
    }
  }
}

/** Bytes of im2col (or packed 1x1) scratch one thread needs. */
export function denseScratchBytes(cIn: number, kSize: number, stride: number): number {
  const K = cIn * kSize * kSize;
  return K * gemmTile(K) * 4;
}

export interface DepthwiseArgs {
  x: number; c: number; h: number; w: number; stride: number; hOut: number; wOut: number;
  weights: number; bias: number; y: number; slope: number; hasSlope: number;
  /** Per-thread plane scratch: thread t uses scratch + t * scratchBytes. */
  scratch: number; scratchBytes: number;
}

/** Thread t's part of a depthwise 3x3 convolution: a range of channels. */
export function depthwisePart(k: SimdExports, a: DepthwiseArgs, t: number, nThreads: number): void {
  const [lo, hi] = share(a.c, 1, t, nThreads);
  if (lo >= hi) return;
  const f = a.stride === 1 ? k.depthwise3x3s1 : k.depthwise3x3s2;
  f(a.x, a.weights, a.bias, a.y, a.h, a.w, a.hOut, a.wOut, lo, hi, a.scratch + t * a.scratchBytes, a.slope, a.hasSlope);
}

/** Compiles the kernel module for a memory of this kind (async: browsers refuse big sync compiles). */
export { SIMD_MEMORY, SIMD_WASM_FILES } from './simd_files.js';

export function compileSimdModule(memory: MemoryImport): Promise<WebAssembly.Module> {
  return WebAssembly.compile(buildSimdModule(memory));
}

/** An instance over the given memory; every thread instantiates the same module over the same memory. */
export async function instantiateSimd(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<SimdExports> {
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return instance.exports as unknown as SimdExports;
}

/** y = leaky(a) (b = 0) or leaky(a + b), over n floats; split in 64-byte-aligned chunks. */
export interface ElementwiseArgs {
  a: number; b: number; y: number; n: number; slope: number; hasSlope: number;
}

export function elementwisePart(k: SimdExports, e: ElementwiseArgs, t: number, nThreads: number): void {
  const [lo, hi] = share(e.n, 16, t, nThreads);
  if (lo >= hi) return;
  if (e.b === 0) k.actCopy(e.a + 4 * lo, e.y + 4 * lo, hi - lo, e.slope, e.hasSlope);
  else k.addAct(e.a + 4 * lo, e.b + 4 * lo, e.y + 4 * lo, hi - lo, e.slope, e.hasSlope);
}

/** A head's (A k, H, W) -> (H W A, k): the transpose of (C, HW), split by pixels. */
export interface PermuteArgs {
  x: number; y: number; c: number; hw: number;
}

export function headPermutePart(k: SimdExports, a: PermuteArgs, t: number, nThreads: number): void {
  const [lo, hi] = share(a.hw, 16, t, nThreads);
  if (lo < hi) k.headPermute(a.x, a.y, a.c, a.hw, lo, hi);
}
