// x: (C_in, H, W), w: (C_out, C_in, kH, kW), b: (C_out) -> (C_out, H_out, W_out)
// A dense convolution by one level of Strassen's algorithm: each tile of n output pixels is
// Y (C_out x n) = W (C_out x K) B (K x n), K = C_in kH kW (B: the input itself for a 1x1 stride-1
// convolution, else im2col's tile, as dense.ts), with W, B and Y cut in 2 x 2 blocks (W's output
// channels and K in halves, B's K and pixels in halves): 7 products of halves instead of 8, an
// eighth fewer multiply-adds.
//   M1 = (W11 + W22)(B11 + B22)    M5 = (W11 + W12) B22       Y11 = M1 + M4 - M5 + M7
//   M2 = (W21 + W22) B11           M6 = (W21 - W11)(B11 + B12) Y12 = M3 + M5
//   M3 = W11 (B12 - B22)           M7 = (W12 - W22)(B21 + B22) Y21 = M2 + M4
//   M4 = W22 (B21 - B11)                                      Y22 = M1 - M2 + M3 + M6
// The seven weight blocks are summed once, in float64, at prepare (strassenWeights). Per tile,
// packStrassen reads B's four blocks once and writes the seven right-hand operands into gemm's
// NR-pixel panels; then gemmStrassenM1 .. M7 (one function a product, its output modes built in)
// each run one product and add it straight into the one or two output blocks it feeds (STRASSEN_PLAN): the first product into a block stores it with the bias
// (and a residual), the last applies the activation. No product is kept in memory.
// Why: the GEMM is at the 128-bit SIMD's peak (docs/profile.md), so ResNet-50's 1x1 layers and its
// strided convolutions (the ones Winograd does not take) can only get faster by doing less.
// Rounding: each block sum rounds once more and each output is a sum of 2 to 4 products, but each
// product sums only K/2 terms: one layer against float64 (`node dist/bench/strassen.js`), worst
// |error| 2.2e-6 to 6.7e-6 against the direct GEMM's 1.0e-6 to 7.2e-6 on ResNet-50's shapes.
import { Code } from '../../wasm/emitter.js';
import { emitAddToVectors, emitLeaky, emitStoreVectors, share, type SimdExports } from './common.js';
import { gemmTile, isPointwise, type DenseConvArgs } from './dense.js';
import { emitPanelProducts, GEMM_COLS, GEMM_MR, GEMM_NR } from './gemm.js';
import { packDenseWeights, packedDenseFloats } from '../gemm_panels.js';

/** How a product's result goes into an output block (gemmStrassen's mode arguments). */
export const STRASSEN_MODE = { init: 0, add: 1, sub: 2, final: 3 } as const;
type Mode = (typeof STRASSEN_MODE)[keyof typeof STRASSEN_MODE];

/** Output blocks: [row half, column half]. */
type Block = '11' | '12' | '21' | '22';

/**
 * The seven products in the order they run: which weight sum (index into strassenWeights' blocks
 * and packStrassen's operands, both in this order) and where the product goes. Each block's first
 * product initialises it, its last is `final`.
 */
export const STRASSEN_PLAN: readonly { to: readonly [Block, Mode][] }[] = [
  { to: [['11', STRASSEN_MODE.init], ['22', STRASSEN_MODE.init]] }, // M1
  { to: [['21', STRASSEN_MODE.init], ['22', STRASSEN_MODE.sub]] }, // M2
  { to: [['12', STRASSEN_MODE.init], ['22', STRASSEN_MODE.add]] }, // M3
  { to: [['11', STRASSEN_MODE.add], ['21', STRASSEN_MODE.final]] }, // M4
  { to: [['11', STRASSEN_MODE.sub], ['12', STRASSEN_MODE.final]] }, // M5
  { to: [['22', STRASSEN_MODE.final]] }, // M6
  { to: [['11', STRASSEN_MODE.final]] }, // M7
];

/** The weight side of each product, as coefficients of [W11, W12, W21, W22] (M1 .. M7). */
const WEIGHT_SUMS: readonly (readonly number[])[] = [
  [1, 0, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0], [-1, 0, 1, 0], [0, 1, 0, -1],
];

/**
 * Whether a dense convolution with K = C_in kH kW products per output and C_out outputs runs by
 * Strassen: output channels in two halves of whole GEMM_MR panels, K in two halves, both at least
 * STRASSEN_MIN_CHANNELS. One layer on one thread against one GEMM and its packB (`node
 * dist/bench/strassen.js`, docs/profile.md, "The twenty-second"): 0.90-0.96 at K 128 to 2048
 * and C_out 128 to 2048; 1.03 at K = 64 (64 -> 256 on 160x160: the output blocks' updates cost
 * as much as K/2 = 32 products), 0.99 at C_out = 64 (256 -> 64: the packing shared by too few).
 */
export const STRASSEN_MIN_CHANNELS = 128;
export function strassenApplies(k: number, cOut: number): boolean {
  return cOut >= STRASSEN_MIN_CHANNELS && k >= STRASSEN_MIN_CHANNELS && cOut % (2 * GEMM_MR) === 0 && k % 2 === 0;
}

/** The seven weight blocks (WEIGHT_SUMS of w: C_out x K, row-major), each summed in float64, rounded once, packed into gemm's panels. */
export function strassenWeights(w: Float32Array, cOut: number, k: number): Float32Array {
  const oh = cOut / 2, kh = k / 2, per = packedDenseFloats(oh, kh);
  const out = new Float32Array(7 * per);
  const block = new Float32Array(oh * kh);
  const sums = new Float64Array(oh * kh); // summed in float64, rounded once into block
  WEIGHT_SUMS.forEach((coeffs, p) => {
    sums.fill(0);
    coeffs.forEach((cf, q) => {
      if (cf === 0) return;
      const row0 = (q >> 1) * oh, col0 = (q & 1) * kh; // the block W at row half q >> 1, column half q & 1
      for (let o = 0; o < oh; o++) for (let i = 0; i < kh; i++) sums[o * kh + i] += cf * w[(row0 + o) * k + col0 + i]!;
    });
    block.set(sums);
    packDenseWeights(block, oh, out.subarray(p * per, (p + 1) * per));
  });
  return out;
}

/**
 * Pixels per tile: gemm's tile for K (dense.ts gemmTile: K x T within 256 KB, so the seven operands
 * of K/2 x T/2 are 7/4 of that), at most STRASSEN_MAX_TILE, in whole pairs of NR-pixel panels (each
 * half a whole number of panels).
 */
export function strassenTile(k: number): number {
  return Math.max(2 * GEMM_NR, Math.floor(Math.min(STRASSEN_MAX_TILE, gemmTile(k)) / (2 * GEMM_NR)) * 2 * GEMM_NR);
}
/** At most this many pixels a tile: its output blocks, each updated 2 to 4 times, stay in L2 (C_out T floats). */
export const STRASSEN_MAX_TILE = 256;

/** Bytes of one thread's scratch: im2col's K x T tile (unless a 1x1 stride-1 reads its input in place), then packStrassen's 7 (K / 2) (T / 2) floats. */
export function strassenScratchBytes(cIn: number, kSize: number, stride: number, pad: number): number {
  const k = cIn * kSize * kSize, t = strassenTile(k);
  return 4 * ((isPointwise(kSize, stride, pad) ? 0 : k * t) + 7 * (k / 2) * (t / 2));
}

/** The left half's width for a tile of n pixels: whole panels of NR, at least n / 2. */
export function strassenHalf(n: number): number {
  return GEMM_NR * Math.ceil(n / (2 * GEMM_NR));
}

/**
 * packStrassen(x, xStride, K, n, h, dst): from B (K x n at x, rows xStride floats apart), with
 * blocks B11 = rows [0, K/2) columns [0, h), B12 = the same rows, columns [h, 2h), B21, B22 the rows
 * [K/2, K), the seven operands B11 + B22, B11, B12 - B22, B21 - B11, B22, B11 + B12, B21 + B22 (M1
 * .. M7's), each K/2 x h in NR-pixel panels (packB's layout) at dst + o (K/2) h 4. Columns of the
 * right half past n read as zeros (they meet the left half's real columns in the sums); the left
 * half's past n (only when n < h) are garbage, as packB's, and never stored.
 */
export function emitPackStrassen(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, xStride, K, n, h, dst] = [0, 1, 2, 3, 4, 5];
  const k = c.local('i32'), j = c.local('i32'), top = c.local('i32'), bot = c.local('i32'), out = c.local('i32');
  const opBytes = c.local('i32'), blockBytes = c.local('i32'), kh = c.local('i32'), right = c.local('i32'), hBytes = c.local('i32');
  const o = c.local('i32'), rowBytes = c.local('i32');
  const v = (count: number) => Array.from({ length: count }, () => c.local('v128'));
  const b11 = v(GEMM_COLS), b12 = v(GEMM_COLS), b21 = v(GEMM_COLS), b22 = v(GEMM_COLS);
  c.localGet(K).i32Const(1).i32ShrU().localSet(kh);
  c.localGet(kh).i32Const(4 * GEMM_NR).i32Mul().localSet(blockBytes);
  c.localGet(kh).localGet(h).i32Mul().i32Const(2).i32Shl().localSet(opBytes);
  c.localGet(h).i32Const(2).i32Shl().localSet(hBytes);
  c.localGet(xStride).i32Const(2).i32Shl().localSet(rowBytes);
  /** vecs = the right half's 8 columns from address local `addr`, zero past `right` of them. */
  const loadRight = (addr: number, vecs: number[]) => {
    c.localGet(right).i32Const(GEMM_NR).i32GeS().if(() => {
      vecs.forEach((vv, i) => c.localGet(addr).localGet(hBytes).i32Add().v128Load(16 * i).localSet(vv));
    }, () => {
      vecs.forEach((vv) => c.v128ConstF32(0, 0, 0, 0).localSet(vv));
      for (let l = 0; l < GEMM_NR; l++) {
        c.localGet(right).i32Const(l).i32GtS().if(() => {
          const vv = vecs[l >> 2]!;
          c.localGet(vv).localGet(addr).localGet(hBytes).i32Add().f32Load(4 * l).f32x4ReplaceLane(l & 3).localSet(vv);
        });
      }
    });
  };
  // Panel by panel, k inside: each operand's panel is written front to back (packB's k-outer order,
  // seven operands' panels blockBytes apart, ran 3x packB's time: docs/profile.md).
  c.forRange(j, () => c.i32Const(0), () => c.localGet(h), GEMM_NR, () => {
    c.localGet(n).localGet(h).i32Sub().localGet(j).i32Sub().localSet(right);
    c.localGet(x).localGet(j).i32Const(2).i32Shl().i32Add().localSet(top);
    c.localGet(top).localGet(kh).localGet(xStride).i32Mul().i32Const(2).i32Shl().i32Add().localSet(bot);
    c.localGet(dst).localGet(j).i32Const(GEMM_NR).i32DivU().localGet(blockBytes).i32Mul().i32Add().localSet(out);
    c.forRange(k, () => c.i32Const(0), () => c.localGet(kh), 1, () => {
      b11.forEach((vv, i) => c.localGet(top).v128Load(16 * i).localSet(vv));
      b21.forEach((vv, i) => c.localGet(bot).v128Load(16 * i).localSet(vv));
      loadRight(top, b12);
      loadRight(bot, b22);
      const ops: ((i: number) => void)[] = [
        (i) => c.localGet(b11[i]!).localGet(b22[i]!).f32x4Add(),
        (i) => c.localGet(b11[i]!),
        (i) => c.localGet(b12[i]!).localGet(b22[i]!).f32x4Sub(),
        (i) => c.localGet(b21[i]!).localGet(b11[i]!).f32x4Sub(),
        (i) => c.localGet(b22[i]!),
        (i) => c.localGet(b11[i]!).localGet(b12[i]!).f32x4Add(),
        (i) => c.localGet(b21[i]!).localGet(b22[i]!).f32x4Add(),
      ];
      c.localGet(out).localSet(o);
      ops.forEach((op, q) => {
        if (q > 0) c.localGet(o).localGet(opBytes).i32Add().localSet(o);
        for (let i = 0; i < GEMM_COLS; i++) {
          c.localGet(o);
          op(i);
          c.v128Store(16 * i);
        }
      });
      c.localGet(top).localGet(rowBytes).i32Add().localSet(top);
      c.localGet(bot).localGet(rowBytes).i32Add().localSet(bot);
      c.localGet(out).i32Const(4 * GEMM_NR).i32Add().localSet(out);
    });
  });
  return c;
}

/**
 * gemmStrassenM1 .. M7(w, x, K, ocCount, n, blockBytes, yStride, y1, n1, bias1, y2, n2, bias2,
 * resDelta, slope, hasSlope): product i of STRASSEN_PLAN, P = W' B' (W' ocCount x K in panels of
 * GEMM_MR, ocCount a multiple of it; B' K x n in NR-pixel panels blockBytes apart, as gemm's),
 * into its output blocks (y1: the first output of the first, n1 of its columns stored; y2, n2 the
 * second's, if the plan has one), each by its mode: init y = P + bias (bias1/2: the block's rows'
 * bias) + the residual at y + resDelta (resDelta 0: none); add y = y + P; sub y = y - P; final
 * y = act(y + P). Both blocks' rows are yStride floats apart. The modes are the plan's, built in
 * (one function each): a mode read at run time cost 4-6 branches a row of every micro-tile.
 */
export function emitGemmStrassen(fma: boolean, product: number): Code {
  const to = STRASSEN_PLAN[product]!.to;
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32']);
  const [w, x, K, ocCount, n, blockBytes, yStride, y1, n1, bias1, y2, n2, bias2, resDelta, slope, hasSlope] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const ob = c.local('i32'), j = c.local('i32'), wp = c.local('i32'), xp = c.local('i32'), wEnd = c.local('i32');
  const panelBytes = c.local('i32'), rem = c.local('i32'), yp = c.local('i32'), oc = c.local('i32'), rp = c.local('i32'), xStep = c.local('i32');
  const acc = Array.from({ length: GEMM_MR }, () => Array.from({ length: GEMM_COLS }, () => c.local('v128')));
  const b = Array.from({ length: GEMM_COLS }, () => c.local('v128'));
  const t = Array.from({ length: GEMM_COLS }, () => c.local('v128'));
  const a = c.local('v128'), slopeV = c.local('v128');
  c.localGet(K).i32Const(4 * GEMM_MR).i32Mul().localSet(panelBytes);
  c.localGet(slope).f32x4Splat().localSet(slopeV);
  c.i32Const(4 * GEMM_NR).localSet(xStep); // B' in NR-pixel panels: a k's row is NR floats
  /** Row r of the micro-tile into one block by `mode`: t from acc, combined, stored (its first rem floats). */
  const into = (r: number, y: number, count: number, mode: Mode, bias: number) => {
    c.localGet(count).localGet(j).i32Sub().localTee(rem).i32Const(0).i32GtS().if(() => {
      c.localGet(y).localGet(oc).localGet(yStride).i32Mul().localGet(j).i32Add().i32Const(2).i32Shl().i32Add().localSet(yp);
      if (mode === STRASSEN_MODE.init) {
        c.localGet(bias).localGet(oc).i32Const(2).i32Shl().i32Add().v128Load32Splat().localSet(a);
        t.forEach((tv, i) => c.localGet(acc[r]![i]!).localGet(a).f32x4Add().localSet(tv));
        c.localGet(resDelta).if(() => {
          c.localGet(yp).localGet(resDelta).i32Add().localSet(rp);
          emitAddToVectors(c, rp, t, rem, false);
        });
      } else {
        if (mode === STRASSEN_MODE.sub) t.forEach((tv, i) => c.v128ConstF32(0, 0, 0, 0).localGet(acc[r]![i]!).f32x4Sub().localSet(tv));
        else t.forEach((tv, i) => c.localGet(acc[r]![i]!).localSet(tv));
        emitAddToVectors(c, yp, t, rem, false);
        if (mode === STRASSEN_MODE.final) c.localGet(hasSlope).if(() => emitLeaky(c, t, slopeV));
      }
      emitStoreVectors(c, yp, t, rem);
    });
  };
  c.forRange(ob, () => c.i32Const(0), () => c.localGet(ocCount).i32Const(2).i32ShrU(), 1, () => {
    c.forRange(j, () => c.i32Const(0), () => c.localGet(n), GEMM_NR, () => {
      for (const v of acc.flat()) c.v128ConstF32(0, 0, 0, 0).localSet(v);
      c.localGet(w).localGet(ob).localGet(panelBytes).i32Mul().i32Add().localTee(wp).localGet(panelBytes).i32Add().localSet(wEnd);
      c.localGet(x).localGet(j).i32Const(GEMM_NR).i32DivU().localGet(blockBytes).i32Mul().i32Add().localSet(xp);
      emitPanelProducts(c, fma, { acc, b, a, wp, xp, xStep }, wEnd);
      for (let r = 0; r < GEMM_MR; r++) {
        c.localGet(ob).i32Const(GEMM_MR).i32Mul().i32Const(r).i32Add().localSet(oc);
        into(r, y1, n1, to[0]![1], bias1);
        if (to[1] !== undefined) into(r, y2, n2, to[1][1], bias2);
      }
    });
  });
  return c;
}

/**
 * One piece of a dense convolution by Strassen (dense.ts's arguments; `weights`: strassenWeights):
 * its range of the output pixels (share(), in whole pairs of NR-pixel panels), by tiles of
 * strassenTile(K) pixels: each tile's B (a 1x1 stride-1 input read in place; else im2col's tile
 * first, at the start of the thread's scratch) packed (packStrassen), then the seven products
 * (STRASSEN_PLAN).
 */
export function strassenConvPart(k: SimdExports, a: DenseConvArgs, slot: number, piece: number, pieces: number): void {
  const K = a.cIn * a.kSize * a.kSize, P = a.hOut * a.wOut, T = strassenTile(K);
  const oh = a.cOut / 2, kh = K / 2;
  const perBlock = 4 * packedDenseFloats(oh, kh);
  const [lo, hi] = share(P, 2 * GEMM_NR, piece, pieces);
  const pointwise = isPointwise(a.kSize, a.stride, a.pad);
  const col = a.scratch + slot * a.scratchBytes;
  const ops = pointwise ? col : col + 4 * K * T;
  const bottom = 4 * oh * P;
  const resDelta = a.res === 0 ? 0 : a.res - a.y;
  const gemms = [k.gemmStrassenM1, k.gemmStrassenM2, k.gemmStrassenM3, k.gemmStrassenM4, k.gemmStrassenM5, k.gemmStrassenM6, k.gemmStrassenM7];
  for (let p0 = lo; p0 < hi; p0 += T) {
    const n = Math.min(T, hi - p0), h = strassenHalf(n);
    const opBytes = 4 * kh * h;
    if (pointwise) k.packStrassen(a.x + 4 * p0, P, K, n, h, ops);
    else {
      k.im2col(a.x, a.h, a.w, a.cIn, a.kSize, a.stride, a.pad, a.wOut, p0, n, T, col);
      k.packStrassen(col, T, K, n, h, ops);
    }
    const block = (bl: Block) => ({
      y: a.y + 4 * p0 + (bl[0] === '2' ? bottom : 0) + (bl[1] === '2' ? 4 * h : 0),
      n: bl[1] === '2' ? n - h : Math.min(h, n),
      bias: a.bias + (bl[0] === '2' ? 4 * oh : 0),
    });
    STRASSEN_PLAN.forEach(({ to }, i) => {
      const d1 = block(to[0]![0]);
      const second = to[1];
      const d2 = second === undefined ? { y: 0, n: 0, bias: 0 } : block(second[0]);
      gemms[i]!(a.weights + i * perBlock, ops + i * opBytes, kh, oh, h, 4 * GEMM_NR * kh, P,
        d1.y, d1.n, d1.bias, d2.y, d2.n, d2.bias, resDelta, a.slope, a.hasSlope);
    });
  }
}
