// x: (C_in, H, W), w: (C_out, C_in/groups, kH, kW), b: (C_out) -> (C_out, H_out, W_out)
// The WebAssembly SIMD convolutions of the 'cpu-simd' backend, generated at run time by
// src/wasm/emitter.ts, all over one memory (byte offsets as arguments), weights with batch norm
// folded in, bias and LeakyReLU fused. Tested against conv2dNaive in test/simd.test.ts.
//
// gemm: Y (C_out x n) = W (C_out x K) * B (K x n) + bias, activation. W is packed once into
//   panels of MR = 4 output channels ([panel][k][4], packDenseWeights); a micro-tile keeps
//   4 x NR outputs (NR = 4 * GEMM_COLS pixels) in v128 locals, and per k loads GEMM_COLS vectors
//   of B and splats 4 weights: 4 * GEMM_COLS multiply-adds of 4 lanes per 4 + GEMM_COLS loads.
//   B's rows have a stride, so a 1x1 stride-1 convolution reads the activation (C_in x H W)
//   itself, and any other dense convolution reads an im2col tile.
// im2col: the tile of output pixels [p0, p0 + n) as B (K x n, row stride T), K = C_in kH kW,
//   zero padding.
// depthwise3x3s1 / depthwise3x3s2: per channel, the plane is copied into a zero-bordered
//   scratch plane (no bounds checks in the inner loop), then 4 output pixels per vector; stride
//   2 gathers the even/odd columns with shuffles.
// Relaxed SIMD's FMA is not available everywhere: multiply then add (two roundings, as the
// naive loop's float64 accumulation is not either: see the tolerances in the test).
import { Code, ModuleBuilder, type MemoryImport } from '../wasm/emitter.js';

/** Output channels per packed weight panel (the micro-tile's rows). */
export const GEMM_MR = 4;
/** v128 columns per micro-tile row: NR = 4 * GEMM_COLS output pixels. */
export const GEMM_COLS = 2;
export const GEMM_NR = 4 * GEMM_COLS;

/** The generated module's exports (all addresses are byte offsets into the shared memory). */
export interface SimdExports {
  gemm(w: number, x: number, xStride: number, y: number, yStride: number, bias: number,
    k: number, ocCount: number, n: number, slope: number, hasSlope: number): void;
  im2col(x: number, h: number, w: number, cIn: number, kSize: number, stride: number, pad: number,
    wOut: number, p0: number, n: number, rowStride: number, col: number): void;
  actCopy(a: number, y: number, n: number, slope: number, hasSlope: number): void;
  addAct(a: number, b: number, y: number, n: number, slope: number, hasSlope: number): void;
  headPermute(x: number, y: number, c: number, hw: number, pStart: number, pEnd: number): void;
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
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32']);
  const [w, x, xStride, y, yStride, bias, K, ocCount, n, slope, hasSlope] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
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
      c.localGet(x).localGet(j).i32Const(2).i32Shl().i32Add().localSet(xp);
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

/** Floats of scratch one thread needs for depthwiseConv on an (H, W) plane. */
export function depthwisePlaneFloats(h: number, w: number): number {
  return (h + 2) * (w + 2 + DW_PLANE_SLACK);
}

function emitDepthwise(stride: 1 | 2): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32']);
  const [x, w, bias, y, H, W, hOut, wOut, cStart, cEnd, plane, slope, hasSlope] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const ch = c.local('i32'), r = c.local('i32'), rowBytes = c.local('i32'), src = c.local('i32'), dst = c.local('i32');
  const oh = c.local('i32'), ow = c.local('i32'), r0 = c.local('i32'), p = c.local('i32'), yRow = c.local('i32'), rem = c.local('i32');
  const wv = Array.from({ length: 9 }, () => c.local('v128'));
  const bv = c.local('v128'), acc = c.local('v128'), slopeV = c.local('v128');
  const va = c.local('v128'), vb = c.local('v128'), vc = c.local('v128'), vd = c.local('v128');

  c.localGet(slope).f32x4Splat().localSet(slopeV);
  c.localGet(W).i32Const(2 + DW_PLANE_SLACK).i32Add().i32Const(2).i32Shl().localSet(rowBytes);
  c.forRange(ch, () => c.localGet(cStart), () => c.localGet(cEnd), 1, () => {
    // The zero-bordered plane: rows 0 and H + 1 zero, columns 0 and W + 1 zero.
    c.localGet(plane).i32Const(0).localGet(rowBytes).memoryFill();
    c.localGet(plane).localGet(H).i32Const(1).i32Add().localGet(rowBytes).i32Mul().i32Add().i32Const(0).localGet(rowBytes).memoryFill();
    c.localGet(x).localGet(ch).localGet(H).i32Mul().localGet(W).i32Mul().i32Const(2).i32Shl().i32Add().localSet(src);
    c.forRange(r, () => c.i32Const(0), () => c.localGet(H), 1, () => {
      c.localGet(plane).localGet(r).i32Const(1).i32Add().localGet(rowBytes).i32Mul().i32Add().localTee(dst).f32Const(0).f32Store();
      c.localGet(dst).i32Const(4).i32Add().localGet(src).localGet(W).i32Const(2).i32Shl().memoryCopy();
      c.localGet(dst).localGet(W).i32Const(2).i32Shl().i32Add().f32Const(0).f32Store(4);
      c.localGet(src).localGet(W).i32Const(2).i32Shl().i32Add().localSet(src);
    });
    wv.forEach((v, i) => c.localGet(w).localGet(ch).i32Const(36).i32Mul().i32Add().v128Load32Splat(4 * i).localSet(v));
    c.localGet(bias).localGet(ch).i32Const(2).i32Shl().i32Add().v128Load32Splat().localSet(bv);
    c.forRange(oh, () => c.i32Const(0), () => c.localGet(hOut), 1, () => {
      c.localGet(plane).localGet(oh).i32Const(stride).i32Mul().localGet(rowBytes).i32Mul().i32Add().localSet(r0);
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

/** The kernel module's bytes, importing the given memory as ("env", "memory"). */
export function buildSimdModule(memory: MemoryImport): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder({ memory });
  m.addFunction('gemm', emitGemm());
  m.addFunction('im2col', emitIm2col());
  m.addFunction('actCopy', emitElementwise(false));
  m.addFunction('addAct', emitElementwise(true));
  m.addFunction('headPermute', emitHeadPermute());
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
  /** Per-thread im2col scratch: thread t uses scratch + t * scratchBytes (unused for 1x1 stride 1). */
  scratch: number; scratchBytes: number;
}

/** The share [start, end) of n items for thread t of nThreads, in whole units of `grain`. */
export function share(n: number, grain: number, t: number, nThreads: number): [number, number] {
  const units = Math.ceil(n / grain);
  const lo = Math.floor((units * t) / nThreads) * grain;
  const hi = Math.min(n, Math.floor((units * (t + 1)) / nThreads) * grain);
  return [lo, Math.max(lo, hi)];
}

/** Thread t's part of a dense convolution: whole GEMM tiles of output pixels. */
export function denseConvPart(k: SimdExports, a: DenseConvArgs, t: number, nThreads: number): void {
  const K = a.cIn * a.kSize * a.kSize;
  const P = a.hOut * a.wOut;
  const T = gemmTile(K);
  const [lo, hi] = share(P, T, t, nThreads);
  const direct = a.kSize === 1 && a.stride === 1 && a.pad === 0;
  const col = a.scratch + t * a.scratchBytes;
  for (let p0 = lo; p0 < hi; p0 += T) {
    const n = Math.min(T, hi - p0);
    if (direct) {
      k.gemm(a.weights, a.x + 4 * p0, P, a.y + 4 * p0, P, a.bias, K, a.cOut, n, a.slope, a.hasSlope);
    } else {
      k.im2col(a.x, a.h, a.w, a.cIn, a.kSize, a.stride, a.pad, a.wOut, p0, n, T, col);
      k.gemm(a.weights, col, T, a.y + 4 * p0, P, a.bias, K, a.cOut, n, a.slope, a.hasSlope);
    }
  }
}

/** Bytes of im2col scratch one thread needs (0 when the convolution reads its input directly). */
export function denseScratchBytes(cIn: number, kSize: number, stride: number, pad: number): number {
  if (kSize === 1 && stride === 1 && pad === 0) return 0;
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
