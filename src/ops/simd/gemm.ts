// W: (C_out, K) in panels of MR rows, B: (K, n), bias: (C_out) -> Y: (C_out, n)
// gemm: Y (C_out x n) = W (C_out x K) * B (K x n) + bias, activation. W is packed once into
//   panels of MR = 4 output channels ([panel][k][4], packDenseWeights); a micro-tile keeps
//   4 x NR outputs (NR = 4 * GEMM_COLS pixels) in v128 locals, and per k loads GEMM_COLS vectors
//   of B and splats 4 weights: 4 * GEMM_COLS multiply-adds of 4 lanes per 4 + GEMM_COLS loads.
//   B is read either row-major (row stride xStride) from an im2col tile, or from NR-pixel
//   panels (packB: a 1x1 convolution's input tile copied so that gemm reads it front to back).
// The one matrix product of the module: dense convolutions (dense.ts) and Winograd's (m + 2)^2
// products per chunk (winograd.ts; F(4x4)'s as gemmBlocked, its sums by runs) all run it, and
// Strassen's seven products (strassen.ts) run its K loop (emitPanelProducts) with their own stores.
import { Code } from '../../wasm/emitter.js';
import { emitAddToVectors, emitLeaky, emitMulAdd, emitStoreVectors } from './common.js';
import { PANEL_ROWS } from '../gemm_panels.js';

/** Output channels per packed weight panel (the micro-tile's rows): the panels of gemm_panels.ts. */
export const GEMM_MR = PANEL_ROWS;
export { packDenseWeights, packedDenseFloats } from '../gemm_panels.js';
/** v128 columns per micro-tile row: NR = 4 * GEMM_COLS output pixels. */
export const GEMM_COLS = 2;
export const GEMM_NR = 4 * GEMM_COLS;
/** gemm's blockBytes for a row-major B (pixel blocks side by side): NR floats. */
export const ROW_MAJOR_BLOCK = 4 * GEMM_NR;

/**
 * Multiply-adds per partial sum in gemmBlocked: each output's K products are summed in runs of
 * GEMM_K_BLOCK (each run from zero, in registers), and the runs' sums added to one another in y.
 * A running float32 sum of K products rounds at every step at the size of the whole sum so far;
 * summed by runs, most roundings happen at the size of one run. Winograd F(4x4, 3x3)'s products,
 * one layer against float64 (`/usr/bin/python3 bench/winograd_points.py --runs`), worst |error|:
 * C_in 256, 2.7e-5 summed straight, 9.2e-6 by runs of 32; C_in 512, 4.5e-5 and 1.1e-5 (F(2x2)
 * straight: 4.3e-6 and 6.2e-6; relaxed_madd build; mul + add rounds alike: 9.8e-6 and 1.1e-5 by runs).
 * Winograd F(4x4) sums by runs (winograd.ts). Paired forwards against the same build with F(4x4)
 * on gemm (`node dist/bench/ab.js --before THAT --after . --tolerance 1e-3`, resnet50 640x640, 1
 * thread, 5 pairs): 0.995, within the host's noise; timed alone on ResNet-50's Winograd layers, the
 * GEMMs by runs take 5-12 % longer than straight ones (docs/profile.md, "What it says to do next").
 */
export const GEMM_K_BLOCK = 32;

/**
 * The gemm kernel; `fma`: multiply-adds by relaxed SIMD's relaxed_madd (emitMulAdd); `sums`:
 * each output's K products summed straight (gemm) or by runs of GEMM_K_BLOCK (gemmBlocked: the
 * same arguments, y written after every run and read back before the next is added; the
 * activation after the last). `residual` (gemmResidual, sums straight): one more argument, res,
 * a tensor laid out as y (same row stride) whose values are added to the sums before the
 * activation: y = act(W B + bias + res), a ResNet Bottleneck's conv3 and its `relu(out +
 * identity)` in one pass, the same float operations in the same order as gemm then addAct.
 */
export function emitGemm(fma: boolean, sums: 'straight' | 'byRuns' = 'straight', residual = false): Code {
  const blocked = sums === 'byRuns';
  if (blocked && residual) throw new Error('gemm: a residual is added to straight sums only');
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32', 'i32', ...(residual ? ['i32' as const] : [])]);
  const [w, x, xStride, y, yStride, bias, K, ocCount, n, slope, hasSlope, blockBytes, res] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const ob = c.local('i32'), j = c.local('i32'), wp = c.local('i32'), xp = c.local('i32'), wEnd = c.local('i32');
  const xStep = c.local('i32'), panelBytes = c.local('i32'), rem = c.local('i32'), yp = c.local('i32'), oc = c.local('i32');
  const acc = Array.from({ length: GEMM_MR }, () => Array.from({ length: GEMM_COLS }, () => c.local('v128')));
  const b = Array.from({ length: GEMM_COLS }, () => c.local('v128'));
  const a = c.local('v128'), slopeV = c.local('v128');
  const [first, runEnd] = blocked ? [c.local('i32'), c.local('i32')] : [-1, -1];
  /** res - y: a residual value sits this many bytes from its output's */
  const [resDelta, rp] = residual ? [c.local('i32'), c.local('i32')] : [-1, -1];
  if (residual) c.localGet(res).localGet(y).i32Sub().localSet(resDelta);

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
      const products = (end: number) => emitPanelProducts(c, fma, { acc, b, a, wp, xp, xStep }, end);
      c.localGet(n).localGet(j).i32Sub().localSet(rem);
      /** yp of the panel's row oc. */
      const rowAddr = () => c.localGet(y).localGet(oc).localGet(yStride).i32Mul().localGet(j).i32Add().i32Const(2).i32Shl().i32Add().localSet(yp);
      const eachRow = (body: (r: number) => void) => {
        for (let r = 0; r < GEMM_MR; r++) {
          c.localGet(ob).i32Const(GEMM_MR).i32Mul().i32Const(r).i32Add().localTee(oc).localGet(ocCount).i32LtS().if(() => { rowAddr(); body(r); });
        }
      };
      if (!blocked) {
        products(wEnd);
      } else {
        // Runs of GEMM_K_BLOCK products: the first run's sums (with the bias) are stored, each
        // later run's (from zero) added to y, the last one's added in registers before the activation.
        c.i32Const(1).localSet(first);
        c.block(() => c.loop(() => {
          c.localGet(wp).i32Const(4 * GEMM_MR * GEMM_K_BLOCK).i32Add().localTee(runEnd).localGet(wEnd).i32GeU().brIf(1);
          products(runEnd);
          eachRow((r) => c.localGet(first).if(() => emitStoreVectors(c, yp, acc[r]!, rem), () => emitAddToVectors(c, yp, acc[r]!, rem, true)));
          c.i32Const(0).localSet(first);
          for (const v of acc.flat()) c.v128ConstF32(0, 0, 0, 0).localSet(v);
          c.br(0);
        }));
        products(wEnd);
        c.localGet(first).i32Eqz().if(() => eachRow((r) => emitAddToVectors(c, yp, acc[r]!, rem, false)));
      }
      if (residual) eachRow((r) => { c.localGet(yp).localGet(resDelta).i32Add().localSet(rp); emitAddToVectors(c, rp, acc[r]!, rem, false); });
      c.localGet(hasSlope).if(() => emitLeaky(c, acc.flat(), slopeV));
      eachRow((r) => emitStoreVectors(c, yp, acc[r]!, rem));
    });
  });
  return c;
}

/** The v128 and i32 locals of a micro-tile's K loop (emitPanelProducts). */
export interface MicroTileLocals {
  /** GEMM_MR rows of GEMM_COLS sums */
  acc: number[][];
  /** GEMM_COLS vectors of B, a splat weight */
  b: number[]; a: number;
  /** the panel's weights (GEMM_MR floats a k), B's row, bytes from one row of B to the next */
  wp: number; xp: number; xStep: number;
}

/**
 * The micro-tile's K loop, the one every GEMM of the module runs (gemm, gemmBlocked,
 * gemmResidual, strassen.ts's products): per k, GEMM_COLS vectors of B and GEMM_MR splat weights,
 * GEMM_MR x GEMM_COLS multiply-adds, until wp reaches local `end` (at least one k).
 */
export function emitPanelProducts(c: Code, fma: boolean, l: MicroTileLocals, end: number): void {
  c.loop(() => {
    l.b.forEach((v, i) => c.localGet(l.xp).v128Load(16 * i).localSet(v));
    for (let r = 0; r < GEMM_MR; r++) {
      c.localGet(l.wp).v128Load32Splat(4 * r).localSet(l.a);
      l.acc[r]!.forEach((v, i) => emitMulAdd(c, fma, v, () => c.localGet(l.a), () => c.localGet(l.b[i]!)));
    }
    c.localGet(l.xp).localGet(l.xStep).i32Add().localSet(l.xp);
    c.localGet(l.wp).i32Const(4 * GEMM_MR).i32Add().localTee(l.wp).localGet(end).i32LtU().brIf(0);
  });
}

/**
 * packB(x, xStride, K, n, dst): B (K x n, row stride xStride floats) into NR-pixel panels,
 * dst[(jb * K + k) * NR + l] = B[k][jb NR + l], so that gemm (blockBytes = K NR 4, xStride = NR)
 * reads each panel front to back. The last panel's lanes past n are copied garbage, never stored.
 */
export function emitPackB(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, xStride, K, n, dst] = [0, 1, 2, 3, 4];
  const k = c.local('i32'), j = c.local('i32'), src = c.local('i32'), out = c.local('i32'), rowBytes = c.local('i32');
  c.localGet(xStride).i32Const(2).i32Shl().localSet(rowBytes);
  c.localGet(dst).localSet(out);
  // Panel by panel, k inside: the panel is written front to back. (k outside, each row's panels
  // K NR floats apart, ran 1.1-5x as long: docs/profile.md, "The twenty-third".)
  c.forRange(j, () => c.i32Const(0), () => c.localGet(n), GEMM_NR, () => {
    c.localGet(x).localGet(j).i32Const(2).i32Shl().i32Add().localSet(src);
    c.forRange(k, () => c.i32Const(0), () => c.localGet(K), 1, () => {
      for (let i = 0; i < GEMM_COLS; i++) c.localGet(out).localGet(src).v128Load(16 * i).v128Store(16 * i);
      c.localGet(src).localGet(rowBytes).i32Add().localSet(src);
      c.localGet(out).i32Const(4 * GEMM_NR).i32Add().localSet(out);
    });
  });
  return c;
}

