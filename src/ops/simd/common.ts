// What every kernel of the 'cpu-simd' module (module.ts) shares: the module's exports, with all
// addresses byte offsets into the one memory; the two pieces of code each kernel emits inline
// (LeakyReLU, the store of a partial tile); and how a task's work is cut into pieces.
import type { Code } from '../../wasm/emitter.js';

/** One of Strassen's seven products into its output blocks (strassen.ts emitGemmStrassen). */
export type GemmStrassen = (w: number, x: number, k: number, ocCount: number, n: number, blockBytes: number, yStride: number,
  y1: number, n1: number, bias1: number, y2: number, n2: number, bias2: number, resDelta: number, slope: number, hasSlope: number) => void;

/** The generated module's exports (all addresses are byte offsets into the shared memory). */
export interface SimdExports {
  /** the memory every kernel works in (imported: the same one on every thread) */
  readonly memory: WebAssembly.Memory;
  gemm(w: number, x: number, xStride: number, y: number, yStride: number, bias: number,
    k: number, ocCount: number, n: number, slope: number, hasSlope: number, blockBytes: number): void;
  /** gemm with each output's products summed by runs of GEMM_K_BLOCK (gemm.ts). */
  gemmBlocked(w: number, x: number, xStride: number, y: number, yStride: number, bias: number,
    k: number, ocCount: number, n: number, slope: number, hasSlope: number, blockBytes: number): void;
  /** gemm plus a tensor laid out as y added before the activation (res: its address at y's first output). */
  gemmResidual(w: number, x: number, xStride: number, y: number, yStride: number, bias: number,
    k: number, ocCount: number, n: number, slope: number, hasSlope: number, blockBytes: number, res: number): void;
  packB(x: number, xStride: number, k: number, n: number, dst: number): void;
  /** strassen.ts: a tile's seven right-hand operands, and one product into its output blocks. */
  packStrassen(x: number, xStride: number, k: number, n: number, h: number, dst: number): void;
  gemmStrassenM1: GemmStrassen; gemmStrassenM2: GemmStrassen; gemmStrassenM3: GemmStrassen; gemmStrassenM4: GemmStrassen;
  gemmStrassenM5: GemmStrassen; gemmStrassenM6: GemmStrassen; gemmStrassenM7: GemmStrassen;
  im2col(x: number, h: number, w: number, cIn: number, kSize: number, stride: number, pad: number,
    wOut: number, p0: number, n: number, rowStride: number, col: number): void;
  actCopy(a: number, y: number, n: number, slope: number, hasSlope: number): void;
  addAct(a: number, b: number, y: number, n: number, slope: number, hasSlope: number): void;
  headPermute(x: number, y: number, c: number, hw: number, pStart: number, pEnd: number): void;
  nearest(x: number, h: number, w: number, y: number, hOut: number, wOut: number, rows: number, cols: number, cStart: number, cEnd: number): void;
  maxPool2d3x3s2(x: number, h: number, w: number, y: number, hOut: number, wOut: number, cStart: number, cEnd: number): void;
  winoPadRows(x: number, h: number, w: number, cIn: number, r0: number, r1: number, xpad: number, wP: number): void;
  winoInput2(xpad: number, rowsP: number, wP: number, cIn: number, ty0: number, ty1: number, tW: number, v: number, ldt: number, xiFloats: number): void;
  winoOutput2(m: number, cOut: number, ldm: number, ty0: number, ty1: number, tW: number, y: number, h: number, w: number,
    bias: number, slope: number, hasSlope: number): void;
  winoInput4(xpad: number, rowsP: number, wP: number, cIn: number, ty0: number, ty1: number, tW: number, v: number, ldt: number, xiFloats: number): void;
  winoOutput4(m: number, cOut: number, ldm: number, ty0: number, ty1: number, tW: number, y: number, h: number, w: number,
    bias: number, slope: number, hasSlope: number): void;
  /** Output rows [rowStart, rowEnd); the vector at (ch, oh, ow) is stored at y + ch chBytes + (q >> 3) panelBytes + (q & 7) 4, q = (oh - rowStart) rowPix + ow. */
  depthwise3x3s1(x: number, w: number, bias: number, y: number, h: number, wd: number, rowStart: number, rowEnd: number, wOut: number,
    cStart: number, cEnd: number, plane: number, slope: number, hasSlope: number, chBytes: number, rowPix: number, panelBytes: number): void;
  depthwise3x3s2(x: number, w: number, bias: number, y: number, h: number, wd: number, rowStart: number, rowEnd: number, wOut: number,
    cStart: number, cEnd: number, plane: number, slope: number, hasSlope: number, chBytes: number, rowPix: number, panelBytes: number): void;
}

/**
 * The kernels' one multiply-accumulate, `sum = sum + a * b` (a and b each push one v128): with
 * `fma`, relaxed SIMD's f32x4.relaxed_madd (one fused instruction and one rounding on a CPU with
 * FMA, V8's x64 and arm64 code); without, f32x4.mul then f32x4.add (two roundings, every engine).
 */
export function emitMulAdd(c: Code, fma: boolean, sum: number, a: () => void, b: () => void): void {
  if (fma) {
    a(); b(); c.localGet(sum).f32x4RelaxedMadd();
  } else {
    c.localGet(sum); a(); b(); c.f32x4Mul().f32x4Add();
  }
  c.localSet(sum);
}

/**
 * Emits `dst = dst < dst * slope ? dst * slope : dst` (LeakyReLU for 0 <= slope <= 1) for each
 * v128 local, as f32x4.pmax: one instruction on x64, where f32x4.max (which must return a
 * canonical NaN for a NaN operand and order -0 below +0) compiles to 8 in V8. The same values as
 * max(dst, dst * slope) wherever dst * slope is not NaN; a NaN dst stays NaN (its own payload, not
 * the canonical one), and -Infinity with slope 0 stays -Infinity (max, PyTorch and the naive loop
 * give NaN: the one difference, which finite activations never meet).
 */
export function emitLeaky(c: Code, locals: number[], slopeV: number): void {
  for (const v of locals) c.localGet(v).localGet(v).localGet(slopeV).f32x4Mul().f32x4Pmax().localSet(v);
}

/**
 * The partial tile at the end of a row: `whole(i)` for each of `count` vectors when rem >= 4
 * count floats remain, else `lane(l)` for each float l < rem.
 */
function emitByVectorsOrLanes(c: Code, rem: number, count: number, whole: (i: number) => void, lane: (l: number) => void): void {
  c.localGet(rem).i32Const(count * 4).i32GeS().if(() => {
    for (let i = 0; i < count; i++) whole(i);
  }, () => {
    for (let l = 0; l < count * 4; l++) c.localGet(rem).i32Const(l).i32GtS().if(() => lane(l));
  });
}

/** Stores the floats of consecutive v128 locals at address local `addr`: all of them, or the first rem. */
export function emitStoreVectors(c: Code, addr: number, vecs: number[], rem: number): void {
  emitByVectorsOrLanes(c, rem, vecs.length,
    (i) => c.localGet(addr).localGet(vecs[i]!).v128Store(16 * i),
    (l) => c.localGet(addr).localGet(vecs[l >> 2]!).v128Store32Lane(l & 3, 4 * l));
}

/**
 * Adds the floats at address local `addr` and those of consecutive v128 locals (all of them, or
 * the first rem): into memory (`toMemory`: addr[i] = addr[i] + v) or into the locals (v = v + addr[i]).
 */
export function emitAddToVectors(c: Code, addr: number, vecs: number[], rem: number, toMemory: boolean): void {
  emitByVectorsOrLanes(c, rem, vecs.length, (i) => {
    const v = vecs[i]!;
    if (toMemory) c.localGet(addr).localGet(v).localGet(addr).v128Load(16 * i).f32x4Add().v128Store(16 * i);
    else c.localGet(v).localGet(addr).v128Load(16 * i).f32x4Add().localSet(v);
  }, (l) => {
    const v = vecs[l >> 2]!;
    if (toMemory) c.localGet(addr).localGet(v).f32x4ExtractLane(l & 3).localGet(addr).f32Load(4 * l).f32Add().f32Store(4 * l);
    else c.localGet(v).localGet(v).f32x4ExtractLane(l & 3).localGet(addr).f32Load(4 * l).f32Add().f32x4ReplaceLane(l & 3).localSet(v);
  });
}

/**
 * Piece `piece` of `pieces`: its range [start, end) of n items, in whole units of `grain` (possibly
 * empty). The pool (simd_pool.ts) hands a task's pieces out in order to whichever thread asks
 * next; the pieces of one task cover the n items once. Their sizes fall linearly (piece i of P
 * takes about (2 (P - i) - 1) / P^2 of the items: 15/64 down to 1/64 for P = 8), as guided
 * self-scheduling: the first claims are large, and the last piece, which the other threads may
 * wait for, is small.
 */
export function share(n: number, grain: number, piece: number, pieces: number): [number, number] {
  const units = Math.ceil(n / grain);
  const at = (i: number) => (i >= pieces ? units : Math.floor(units * (1 - ((pieces - i) / pieces) ** 2)));
  const lo = at(piece) * grain;
  const hi = Math.min(n, at(piece + 1) * grain);
  return [lo, Math.max(lo, hi)];
}
