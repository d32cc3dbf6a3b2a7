// x: (C_in, H, W), w: (C_out, C_in, kH, kW), b: (C_out) -> (C_out, H_out, W_out)
// A dense convolution as GEMM (gemm.ts) over tiles of output pixels, split over threads by tiles.
// im2col: the tile of output pixels [p0, p0 + n) as B (K x n, row stride T), K = C_in kH kW,
//   zero padding; an input row is one memory.copy at stride 1, a gather of even lanes by
//   shuffles at stride 2 (the stems, ResNet-50's strided 3x3), element by element otherwise. A 1x1 stride-1 convolution's input is B already: packB copies its tile into
//   gemm's panels instead (isPointwise says why).
import { Code } from '../../wasm/emitter.js';
import { share, type SimdExports } from './common.js';
import { GEMM_NR, ROW_MAJOR_BLOCK } from './gemm.js';

/** im2col(x, H, W, cIn, kSize, stride, pad, wOut, p0, n, T, col): output pixels [p0, p0 + n) as B at col. */
export function emitIm2col(): Code {
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
            // stride 2: 4 outputs per vector, the even lanes of 8 input columns, while all 8 are inside
            c.localGet(stride).i32Const(2).i32Eq().if(() => {
              c.block(() => c.loop(() => {
                c.localGet(q).i32Const(4).i32Add().localGet(run).i32GtS().brIf(1);
                c.localGet(iw).i32Const(8).i32Add().localGet(W).i32GtS().brIf(1);
                c.localGet(dst).localGet(jj).localGet(q).i32Add().i32Const(2).i32Shl().i32Add();
                c.localGet(src).localGet(iw).i32Const(2).i32Shl().i32Add().localTee(cnt).v128Load(0);
                c.localGet(cnt).v128Load(16).f32x4Shuffle(0, 2, 4, 6).v128Store();
                c.localGet(q).i32Const(4).i32Add().localSet(q);
                c.localGet(iw).i32Const(8).i32Add().localSet(iw).br(0);
              }));
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

/**
 * Output pixels per GEMM tile: the K x T block of B stays within about 256 KB (L2). Measured at
 * K = 576 (64 -> 64, 3x3): T = 112 beat 56 by ~8% and 224 or 448 by ~15% (noisy, 2 cores shared).
 */
export function gemmTile(k: number): number {
  return Math.max(GEMM_NR, Math.min(1024, Math.floor(65536 / k / GEMM_NR) * GEMM_NR));
}

/**
 * Floats between two rows of an im2col tile: the tile's pixels and a cache line more. At T = 1024
 * (the stems' K of 27 and 147) rows a whole 4 KB page apart put all K rows of a column in one L1
 * set (docs/profile.md, "The twenty-fourth").
 */
export function im2colRowStride(k: number): number {
  return gemmTile(k) + 16;
}

/** A dense convolution's geometry and where its packed weights live. */
export interface DenseConvArgs {
  x: number; cIn: number; h: number; w: number;
  kSize: number; stride: number; pad: number; hOut: number; wOut: number;
  weights: number; bias: number; cOut: number; y: number;
  slope: number; hasSlope: number;
  /**
   * 0, or a tensor of the output's shape added to the sums before the activation (gemmResidual):
   * y = act(conv(x) + res), a Bottleneck's conv3 with its residual add (cpu_simd.ts add).
   */
  res: number;
  /** Per-thread im2col / packB scratch: thread `slot` uses scratch + slot * scratchBytes. */
  scratch: number; scratchBytes: number;
}

/**
 * 1x1 stride 1: each tile of the input (K x T, rows H W apart) is first copied into NR-pixel
 * panels (packB) that gemm reads front to back. Measured per tile against reading the rows in
 * place and against a row-major copy (one thread, GFLOP/s): 32 -> 64 at 160x160 19.7 / 6.5 / 9.0,
 * 128 -> 128 at 40x40 29.5 / 24.3 / 18.3, 256 -> 64 at 160x160 9.5 / 6.2 / 7.9; never worse.
 * Rows of a whole number of pages apart share cache sets, which the copy avoids.
 */
export function isPointwise(kSize: number, stride: number, pad: number): boolean {
  return kSize === 1 && stride === 1 && pad === 0;
}

/**
 * One piece of a dense convolution, on thread `slot`'s scratch: its range of the output pixels
 * (share(), in whole panels of GEMM_NR), run as GEMM tiles of at most T pixels. Cutting by whole
 * tiles instead gave 1024 of 1600 pixels to one thread of two at 40x40 with 128 input channels
 * (T = 512): the other waited 0.7 ms in each of six such layers (bench/profile.ts's per-thread wait).
 */
export function denseConvPart(k: SimdExports, a: DenseConvArgs, slot: number, piece: number, pieces: number): void {
  const K = a.cIn * a.kSize * a.kSize;
  const P = a.hOut * a.wOut;
  const T = gemmTile(K); // pixels per tile
  const rowStride = im2colRowStride(K); // im2col's row stride
  const [lo, hi] = share(P, GEMM_NR, piece, pieces);
  const pointwise = isPointwise(a.kSize, a.stride, a.pad);
  const col = a.scratch + slot * a.scratchBytes;
  const gemm = (b: number, bStride: number, p0: number, n: number, blockBytes: number) => {
    if (a.res === 0) k.gemm(a.weights, b, bStride, a.y + 4 * p0, P, a.bias, K, a.cOut, n, a.slope, a.hasSlope, blockBytes);
    else k.gemmResidual(a.weights, b, bStride, a.y + 4 * p0, P, a.bias, K, a.cOut, n, a.slope, a.hasSlope, blockBytes, a.res + 4 * p0);
  };
  for (let p0 = lo; p0 < hi; p0 += T) {
    const n = Math.min(T, hi - p0);
    if (pointwise) {
      k.packB(a.x + 4 * p0, P, K, n, col);
      gemm(col, GEMM_NR, p0, n, 4 * GEMM_NR * K);
    } else {
      k.im2col(a.x, a.h, a.w, a.cIn, a.kSize, a.stride, a.pad, a.wOut, p0, n, rowStride, col);
      gemm(col, rowStride, p0, n, ROW_MAJOR_BLOCK);
    }
  }
}

/** Bytes of im2col (or packed 1x1) scratch one thread needs. */
export function denseScratchBytes(cIn: number, kSize: number, stride: number): number {
  const K = cIn * kSize * kSize;
  return K * im2colRowStride(K) * 4;
}
