// x: (C_in, H, W), w: (C_out, C_in, 3, 3), b: (C_out) -> (C_out, H, W), stride 1, padding 1
// Winograd F(m x m, 3x3) for dense 3x3 stride-1 convolutions (Lavin & Gray 2016), m = 2 or 4.
// Each m x m output tile comes from an n x n input tile d (n = m + 2): Y = A^T [sum_ic U (.) V] A
// with U = G g G^T (weights, transformed at prepare) and V = B^T d B, so the 9 m^2 multiply-adds
// per tile, input and output channel become n^2 (F(2x2): 16 for 36; F(4x4): 36 for 144): n^2
// GEMMs M_xi (C_out x tiles) = U_xi (C_out x C_in) V_xi (C_in x tiles), one per transform
// position xi, run by gemm over chunks of tile rows. The matrices are WINO2 and WINO4 below.
// Transforms run on 4 horizontally adjacent tiles per vector: the padded input rows reach a
// multiple of 4 tiles (tW4) so every vector's loads are whole; V and M hold the tW tiles of a row
// only (the GEMMs skip the rest), and the output transform stores only pixels inside.
import { Code } from '../../wasm/emitter.js';
import { emitLeaky, emitStoreVectors, share, type SimdExports } from './common.js';
import { GEMM_MR, GEMM_NR, packDenseWeights, packedDenseFloats, ROW_MAJOR_BLOCK } from './gemm.js';

/**
 * Floats of padding after each transform position's matrix in V and M (so V[xi] starts at
 * xi (C_in nt + WINO_XI_PAD)). Two reasons:
 * - Cache sets: without it the n^2 matrices' strides are often whole multiples of 4 KiB (nt C = 80
 *   x 64 floats at 80x80), so the input transform's stores of a tile (and the output transform's
 *   loads) fall into one L1 set, more lines than its ways, and evict each other. One cache line
 *   apart, they spread over as many sets.
 * - Room past a matrix's end: the input transform's last vector of the last channel's last row
 *   stores up to 3 tiles past it (winoInput), gemm loads whole NR-pixel blocks of V's last row (up
 *   to NR - 1 floats past it), and the output transform loads up to 3 tiles past M's.
 */
export const WINO_XI_PAD = 16;
if (WINO_XI_PAD < Math.max(3, GEMM_NR - 1)) throw new Error('WINO_XI_PAD must hold the stores and loads past a matrix\'s end');

/** Output tile side: F(2x2, 3x3) or F(4x4, 3x3). */
export type WinogradTile = 2 | 4;

/** F(2x2, 3x3) at the points 0, 1, -1 and infinity (Lavin & Gray): every transform entry 0, +-1 or +-1/2. */
export const WINO2 = {
  AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
  G: [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
  BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
} as const;

/**
 * F(4x4, 3x3) by Toom-Cook at the points 0, 1, -1, 1/2, -2 and infinity (bench/winograd_points.py
 * builds them from the points and measures their rounding against float64; of the sets it tries,
 * these round least). A^T's entries are powers of two (exact products); B^T's 3/2 and 5/2 round.
 */
export const WINO4 = {
  AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 1 / 2, -2, 0], [0, 1, 1, 1 / 4, 4, 0], [0, 1, -1, 1 / 8, -8, 1]],
  G: [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [-1 / 3, 1 / 3, -1 / 3], [-16 / 15, -8 / 15, -4 / 15], [1 / 15, -2 / 15, 4 / 15], [0, 0, 1]],
  BT: [[1, -3 / 2, -2, 3 / 2, 1, 0], [0, -1, 1 / 2, 5 / 2, 1, 0], [0, 1, -5 / 2, 1 / 2, 1, 0], [0, -2, -1, 2, 1, 0], [0, 1 / 2, -1, -1 / 2, 1, 0], [0, 1, -3 / 2, -2, 3 / 2, 1]],
} as const;

const TRANSFORMS = { 2: WINO2, 4: WINO4 } as const;

/** Transform positions of a tile: (m + 2)^2, the GEMMs a chunk runs. */
export function winogradPositions(m: WinogradTile): number {
  return (m + 2) * (m + 2);
}

/** Geometry of a Winograd convolution with m x m output tiles on an (H, W) input. */
export function winogradGeometry(h: number, w: number, m: WinogradTile): { tH: number; tW: number; tW4: number; wP: number } {
  const tH = Math.ceil(h / m), tW = Math.ceil(w / m);
  const tW4 = Math.ceil(tW / 4) * 4;
  // Padded rows: a zero column before the input, zeros after it up to the last vector's column
  // reads (F(2x2): 2 tW4 + 1; F(4x4): 4 tW4 + 3, five vectors from column 4 tx). Tile row ty
  // reads padded rows m ty .. m ty + m + 1 (input rows m ty - 1 ..).
  return { tH, tW, tW4, wP: m * tW4 + 4 };
}

/**
 * winoPadRows(x, H, W, cIn, r0, r1, xpad, wP): padded rows [r0, r1) of every channel (padded row
 * r is input row r - 1; rows outside the image are zeros) into xpad, channel c's row r at
 * xpad + ((c (r1 - r0) + r - r0) wP) 4: the band one chunk of tile rows reads, padded by the
 * thread that transforms it, just before (a band is ~6 rows a channel: 129 KB at 64 channels of
 * 80 columns, mobile0.25's FPN at 640x640; 516 KB at 256, ResNet-50's: in L2 when read).
 */
export function emitWinoPadRows(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, H, W, cIn, r0, r1, xpad, wP] = [0, 1, 2, 3, 4, 5, 6, 7];
  const ch = c.local('i32'), r = c.local('i32'), dst = c.local('i32'), ih = c.local('i32'), rowBytes = c.local('i32'), wBytes = c.local('i32');
  c.localGet(wP).i32Const(2).i32Shl().localSet(rowBytes);
  c.localGet(W).i32Const(2).i32Shl().localSet(wBytes);
  c.localGet(xpad).localSet(dst);
  c.forRange(ch, () => c.i32Const(0), () => c.localGet(cIn), 1, () => {
    c.forRange(r, () => c.localGet(r0), () => c.localGet(r1), 1, () => {
      c.localGet(r).i32Const(1).i32Sub().localTee(ih).localGet(H).i32LtU().if(() => {
        c.localGet(dst).f32Const(0).f32Store();
        c.localGet(dst).i32Const(4).i32Add();
        c.localGet(x).localGet(ch).localGet(H).i32Mul().localGet(ih).i32Add().localGet(wBytes).i32Mul().i32Add();
        c.localGet(wBytes).memoryCopy();
        c.localGet(dst).localGet(wBytes).i32Add().i32Const(4).i32Add().i32Const(0).localGet(rowBytes).localGet(wBytes).i32Sub().i32Const(4).i32Sub().memoryFill();
      }, () => {
        c.localGet(dst).i32Const(0).localGet(rowBytes).memoryFill();
      });
      c.localGet(dst).localGet(rowBytes).i32Add().localSet(dst);
    });
  });
  return c;
}

/**
 * Pushes sum_j coeffs[j] x_j (x_j pushed by get(j)) as a v128, in the order of j: the first nonzero
 * term (times its coefficient unless 1; times -1 is exact), then each other added, subtracted
 * (+-1) or multiplied by its splat constant and added.
 */
function emitCombination(c: Code, coeffs: readonly number[], get: (j: number) => void): void {
  let first = true;
  coeffs.forEach((k, j) => {
    if (k === 0) return;
    get(j);
    emitTerm(c, k, first);
    first = false;
  });
}

/**
 * With a term x on the stack (and, unless `first`, the sum so far under it): pushes k x (`first`),
 * else sum + k x, as an add or subtract for k = +-1.
 */
function emitTerm(c: Code, k: number, first: boolean): void {
  if (first) {
    if (k !== 1) c.v128ConstF32(k, k, k, k).f32x4Mul();
  } else if (k === 1) c.f32x4Add();
  else if (k === -1) c.f32x4Sub();
  else c.v128ConstF32(k, k, k, k).f32x4Mul().f32x4Add();
}

/** Emits the 4x4 transpose of the v128 locals rows (lane l of out[j] = lane j of rows[l]), through t[0..3]. */
function emitTranspose4(c: Code, rows: readonly number[], out: readonly number[], t: readonly number[]): void {
  const [a, b, cc, d] = rows as [number, number, number, number];
  const sh = (x: number, y: number, l: [number, number, number, number], dst: number) =>
    c.localGet(x).localGet(y).f32x4Shuffle(...l).localSet(dst);
  sh(a, b, [0, 4, 1, 5], t[0]!); sh(cc, d, [0, 4, 1, 5], t[1]!);
  sh(a, b, [2, 6, 3, 7], t[2]!); sh(cc, d, [2, 6, 3, 7], t[3]!);
  sh(t[0]!, t[1]!, [0, 1, 4, 5], out[0]!); sh(t[0]!, t[1]!, [2, 3, 6, 7], out[1]!);
  sh(t[2]!, t[3]!, [0, 1, 4, 5], out[2]!); sh(t[2]!, t[3]!, [2, 3, 6, 7], out[3]!);
}

/**
 * winoInput2 / winoInput4(xpad, rowsP, wP, cIn, ty0, ty1, tW, v, ldt, xiFloats): V[xi][ic][t] =
 * (B^T d B)[xi] of the tile t = (ty - ty0) tW + tx, at v + 4 (xi xiFloats + ic ldt + t) (a chunk's
 * V: ldt = nt = (ty1 - ty0) tW, xiFloats = cIn nt + WINO_XI_PAD), from padded rows of rowsP rows a
 * channel (winoPadRows), wP floats each. Tiles go 4 to a vector: when tW is not a multiple of 4, a
 * row's last vector also stores up to 3 tiles past it, on the next row's first tiles (or, after a
 * channel's last row, the next channel's, unless ldt leaves room), which the loops (ic, then ty,
 * then tx) write after it, or after the last channel's last row into WINO_XI_PAD. So the loop
 * order must stay.
 */
export function emitWinoInput(m: WinogradTile): Code {
  const { BT } = TRANSFORMS[m];
  const n = m + 2;
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [xpad, rowsP, wP, cIn, ty0, ty1, tW, v, ldt, xiFloats] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const ic = c.local('i32'), ty = c.local('i32'), tx = c.local('i32'), p = c.local('i32'), out = c.local('i32');
  const xiBytes = c.local('i32'), rowBytes = c.local('i32');
  const ld = Array.from({ length: m === 2 ? 4 : 5 }, () => c.local('v128'));
  const col = Array.from({ length: n }, () => c.local('v128'));
  const tmp = Array.from({ length: 4 }, () => c.local('v128'));
  const e = Array.from({ length: n * n }, () => c.local('v128'));
  /** col[j] = column j of row i of the 4 tiles, tile l's at plane column m (tx + l) + j, from p. */
  const gather = () => {
    if (m === 2) {
      // 4 tiles 2 columns apart: the even and odd lanes of columns 0-7 and 2-9
      const [va, vb, vc, vd] = ld as [number, number, number, number];
      c.localGet(p).v128Load(0).localSet(va).localGet(p).v128Load(16).localSet(vb);
      c.localGet(p).v128Load(8).localSet(vc).localGet(p).v128Load(24).localSet(vd);
      c.localGet(va).localGet(vb).f32x4Shuffle(0, 2, 4, 6).localSet(col[0]!);
      c.localGet(va).localGet(vb).f32x4Shuffle(1, 3, 5, 7).localSet(col[1]!);
      c.localGet(vc).localGet(vd).f32x4Shuffle(0, 2, 4, 6).localSet(col[2]!);
      c.localGet(vc).localGet(vd).f32x4Shuffle(1, 3, 5, 7).localSet(col[3]!);
    } else {
      // 4 tiles 4 columns apart: a 4x4 transpose of columns 0-15, then columns 4 and 5 (the next tile's 0 and 1)
      ld.forEach((x, q) => c.localGet(p).v128Load(16 * q).localSet(x));
      emitTranspose4(c, ld.slice(0, 4), col.slice(0, 4), tmp);
      c.localGet(col[0]!).localGet(ld[4]!).f32x4Shuffle(1, 2, 3, 4).localSet(col[4]!);
      c.localGet(col[1]!).localGet(ld[4]!).f32x4Shuffle(1, 2, 3, 5).localSet(col[5]!);
    }
  };
  // The two halves of V = B^T d B in either order (each tile's order measured fastest, one convolution on one thread against
  // the other order: F(2x2) at 64 -> 64 on 80x80, B^T d first, 1.20x faster; F(4x4), d B first, resnet50's forward 1.037x faster).
  /** F(2x2): e = B^T d, summed as the rows of d arrive (e[a][j] += B^T[a][i] d[i][j], in the order of i); then V = e B. */
  const sumRowsFirst = () => {
    const firstRow = BT.map((r) => r.findIndex((k) => k !== 0));
    for (let i = 0; i < n; i++) {
      gather();
      for (let a = 0; a < n; a++) {
        const k = BT[a]![i]!;
        if (k === 0) continue;
        for (let j = 0; j < n; j++) {
          const acc = e[a * n + j]!;
          if (i !== firstRow[a]) c.localGet(acc);
          c.localGet(col[j]!);
          emitTerm(c, k, i === firstRow[a]);
          c.localSet(acc);
        }
      }
      if (i < n - 1) c.localGet(p).localGet(rowBytes).i32Add().localSet(p);
    }
  };
  /** F(4x4): e = d B, row by row (e[i][b] = sum_j B^T[b][j] d[i][j]); then V = B^T e. */
  const transformEachRow = () => {
    for (let i = 0; i < n; i++) {
      gather();
      for (let b = 0; b < n; b++) {
        emitCombination(c, BT[b]!, (j) => c.localGet(col[j]!));
        c.localSet(e[i * n + b]!);
      }
      if (i < n - 1) c.localGet(p).localGet(rowBytes).i32Add().localSet(p);
    }
  };
  c.localGet(xiFloats).i32Const(2).i32Shl().localSet(xiBytes);
  c.localGet(wP).i32Const(2).i32Shl().localSet(rowBytes);
  c.forRange(ic, () => c.i32Const(0), () => c.localGet(cIn), 1, () => {
    c.forRange(ty, () => c.localGet(ty0), () => c.localGet(ty1), 1, () => {
      c.forRange(tx, () => c.i32Const(0), () => c.localGet(tW), 4, () => {
        c.localGet(xpad).localGet(ic).localGet(rowsP).i32Mul().localGet(ty).i32Const(m).i32Mul().i32Add().localGet(rowBytes).i32Mul().i32Add()
          .localGet(tx).i32Const(4 * m).i32Mul().i32Add().localSet(p);
        if (m === 2) sumRowsFirst(); else transformEachRow();
        c.localGet(v).localGet(ic).localGet(ldt).i32Mul().localGet(ty).localGet(ty0).i32Sub().localGet(tW).i32Mul().i32Add().localGet(tx).i32Add()
          .i32Const(2).i32Shl().i32Add().localSet(out);
        // V[a][b], stored at position xi = n a + b
        for (let a = 0; a < n; a++) {
          for (let b = 0; b < n; b++) {
            c.localGet(out);
            if (m === 2) emitCombination(c, BT[b]!, (j) => c.localGet(e[a * n + j]!)); // V = e B
            else emitCombination(c, BT[a]!, (i) => c.localGet(e[i * n + b]!)); // V = B^T e
            c.v128Store();
            if (a * n + b < n * n - 1) c.localGet(out).localGet(xiBytes).i32Add().localSet(out);
          }
        }
      });
    });
  });
  return c;
}

/**
 * winoOutput2 / winoOutput4(m, cOut, ldm, ty0, ty1, tW, y, H, W, bias, slope, hasSlope): Y tiles
 * = A^T M A + bias, leaky, for cOut rows of M matrices of ldm rows each (ldm > cOut: a part of a
 * GEMM over two convolutions' channels); pixels outside (H, W) are not stored.
 */
export function emitWinoOutput(mTile: WinogradTile): Code {
  const { AT } = TRANSFORMS[mTile];
  const n = mTile + 2;
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f32', 'i32']);
  const [m, cOut, ldm, ty0, ty1, tW, y, H, W, bias, slope, hasSlope] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const oc = c.local('i32'), ty = c.local('i32'), tx = c.local('i32'), p = c.local('i32'), nt = c.local('i32'), xiBytes = c.local('i32');
  const oh = c.local('i32'), yp = c.local('i32'), rem = c.local('i32');
  const mv = Array.from({ length: n }, () => c.local('v128'));
  const t = Array.from({ length: mTile * n }, () => c.local('v128'));
  const o = Array.from({ length: mTile * mTile }, () => c.local('v128'));
  const row = Array.from({ length: 4 }, () => c.local('v128'));
  const tmp = Array.from({ length: 4 }, () => c.local('v128'));
  const bv = c.local('v128'), slopeV = c.local('v128');
  c.localGet(slope).f32x4Splat().localSet(slopeV);
  c.localGet(ty1).localGet(ty0).i32Sub().localGet(tW).i32Mul().localSet(nt);
  c.localGet(nt).localGet(ldm).i32Mul().i32Const(WINO_XI_PAD).i32Add().i32Const(2).i32Shl().localSet(xiBytes);
  c.forRange(oc, () => c.i32Const(0), () => c.localGet(cOut), 1, () => {
    c.localGet(bias).localGet(oc).i32Const(2).i32Shl().i32Add().v128Load32Splat().localSet(bv);
    c.forRange(ty, () => c.localGet(ty0), () => c.localGet(ty1), 1, () => {
      c.forRange(tx, () => c.i32Const(0), () => c.localGet(tW), 4, () => {
        // t = A^T M: t[a][j] = sum_i A^T[a][i] M[i][j], column j of M at positions n i + j
        for (let j = 0; j < n; j++) {
          c.localGet(m).localGet(oc).localGet(nt).i32Mul().localGet(ty).localGet(ty0).i32Sub().localGet(tW).i32Mul().i32Add().localGet(tx).i32Add()
            .i32Const(2).i32Shl().i32Add().localGet(xiBytes).i32Const(j).i32Mul().i32Add().localSet(p);
          mv.forEach((x, i) => {
            c.localGet(p).v128Load().localSet(x);
            if (i < n - 1) c.localGet(p).localGet(xiBytes).i32Const(n).i32Mul().i32Add().localSet(p);
          });
          for (let a = 0; a < mTile; a++) {
            emitCombination(c, AT[a]!, (i) => c.localGet(mv[i]!));
            c.localSet(t[a * n + j]!);
          }
        }
        // o = t A + bias: o[a][b] = sum_j A^T[b][j] t[a][j] + bias
        for (let a = 0; a < mTile; a++) {
          for (let b = 0; b < mTile; b++) {
            emitCombination(c, AT[b]!, (j) => c.localGet(t[a * n + j]!));
            c.localGet(bv).f32x4Add().localSet(o[a * mTile + b]!);
          }
        }
        c.localGet(hasSlope).if(() => emitLeaky(c, o, slopeV));
        c.localGet(W).localGet(tx).i32Const(mTile).i32Mul().i32Sub().localSet(rem);
        for (let a = 0; a < mTile; a++) {
          // Output row m ty + a, columns m (tx + l) + b: o[a][b]'s lanes are the tiles l
          c.localGet(ty).i32Const(mTile).i32Mul().i32Const(a).i32Add().localTee(oh).localGet(H).i32LtS().if(() => {
            const vecs = row.slice(0, mTile);
            if (mTile === 2) {
              // interleave o[a][0] and o[a][1]
              c.localGet(o[a * 2]!).localGet(o[a * 2 + 1]!).f32x4Shuffle(0, 4, 1, 5).localSet(row[0]!);
              c.localGet(o[a * 2]!).localGet(o[a * 2 + 1]!).f32x4Shuffle(2, 6, 3, 7).localSet(row[1]!);
            } else {
              emitTranspose4(c, o.slice(a * 4, a * 4 + 4), row, tmp);
            }
            c.localGet(y).localGet(oc).localGet(H).i32Mul().localGet(oh).i32Add().localGet(W).i32Mul().localGet(tx).i32Const(mTile).i32Mul().i32Add()
              .i32Const(2).i32Shl().i32Add().localSet(yp);
            emitStoreVectors(c, yp, vecs, rem);
          });
        }
      });
    });
  });
  return c;
}

/** Winograd weights: U_xi = (G g G^T)[xi] for every (oc, ic), each xi packed into gemm's panels (float64, rounded once). */
export function winogradWeights(w: Float32Array, cOut: number, cIn: number, m: WinogradTile): Float32Array {
  const per = packedDenseFloats(cOut, cIn);
  const n = m + 2;
  const out = new Float32Array(n * n * per);
  const { G } = TRANSFORMS[m];
  const u = Array.from({ length: n * n }, () => new Float32Array(cOut * cIn));
  for (let oc = 0; oc < cOut; oc++) {
    for (let ic = 0; ic < cIn; ic++) {
      const g = (kh: number, kw: number) => w[((oc * cIn + ic) * 3 + kh) * 3 + kw]!;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let kh = 0; kh < 3; kh++) for (let kw = 0; kw < 3; kw++) acc += G[i]![kh]! * g(kh, kw) * G[j]![kw]!;
          u[i * n + j]![oc * cIn + ic] = acc;
        }
      }
    }
  }
  u.forEach((mat, xi) => packDenseWeights(mat, cOut, out.subarray(xi * per, (xi + 1) * per)));
  return out;
}

/**
 * Tile rows per chunk: about 96 tiles. At 64 channels a chunk's V and M stay in L2 (F(2x2) 0.8 MB,
 * F(4x4) 1.8 MB, with 64 -> 64); at ResNet-50's 256 they do not (F(4x4): 7 MB), but 48 tiles for
 * F(4x4) measured no different (paired, resnet50 640x640, 1 thread: 0.998).
 */
function winogradChunkRows(tW4: number): number {
  return Math.max(1, Math.round(96 / tW4));
}

export interface WinogradArgs {
  x: number; cIn: number; h: number; w: number; cOut: number; y: number;
  /** The output tile's side (WinogradTile: 2 or 4; weights transformed for it). */
  tile: WinogradTile;
  /** winogradWeights in the arena, a zero bias of ceil(C_out / 4) * 4 floats, the folded bias. */
  weights: number; zeros: number; bias: number;
  slope: number; hasSlope: number;
  /**
   * cOut1 > 0: the GEMM's first cOut1 channels go to y (bias, slope), the other cOut - cOut1 to y2
   * with bias2, slope2 (two convolutions of one input, sharedInputGroups); 0: all to y.
   */
  cOut1: number; y2: number; bias2: number; slope2: number; hasSlope2: number;
  /** Per thread: one chunk's padded input rows, V and M. */
  scratch: number; scratchBytes: number;
}

/** Floats of a chunk's padded input rows, every channel: the first part of a thread's scratch. */
function padBandFloats(cIn: number, g: { tW4: number; wP: number }, m: WinogradTile): number {
  return cIn * (m * winogradChunkRows(g.tW4) + 2) * g.wP;
}

/** Bytes of one thread's scratch: a chunk's padded rows of every channel, then its V and M. */
export function winogradScratchBytes(cIn: number, cOut: number, h: number, w: number, m: WinogradTile): number {
  const g = winogradGeometry(h, w, m);
  const nt = winogradChunkRows(g.tW4) * g.tW4;
  return 4 * (padBandFloats(cIn, g, m) + winogradPositions(m) * ((cIn + cOut) * nt + 2 * WINO_XI_PAD));
}

/**
 * One piece, on thread `slot`'s scratch: a share of the tile rows (in whole rows: the last pieces
 * of a task are a row or two, so the thread that finishes last does not finish much later; cut in
 * whole chunks, they had been up to 3 rows), by chunks. A chunk of n tile
 * rows reads m n + 2 padded input rows and pads them itself (its last 2 are the next chunk's first
 * 2, padded again there), so no thread waits for another's padding and the one task needs no
 * barrier inside; then its products and output transform (multiplyAndOutput).
 */
export function winogradPart(k: SimdExports, a: WinogradArgs, slot: number, piece: number, pieces: number): void {
  const { tile } = a;
  const g = winogradGeometry(a.h, a.w, tile);
  const positions = winogradPositions(tile);
  const input = tile === 4 ? k.winoInput4 : k.winoInput2;
  const rows = winogradChunkRows(g.tW4);
  const [lo, hi] = share(g.tH, 1, piece, pieces);
  const xpad = a.scratch + slot * a.scratchBytes;
  const v = xpad + 4 * padBandFloats(a.cIn, g, tile);
  for (let ty0 = lo; ty0 < hi; ty0 += rows) {
    const ty1 = Math.min(hi, ty0 + rows);
    const nt = (ty1 - ty0) * g.tW;
    const vXi = (a.cIn * nt + WINO_XI_PAD) * 4;
    const rowsP = tile * (ty1 - ty0) + 2;
    k.winoPadRows(a.x, a.h, a.w, a.cIn, tile * ty0, tile * ty0 + rowsP, xpad, g.wP);
    input(xpad, rowsP, g.wP, a.cIn, 0, ty1 - ty0, g.tW, v, nt, vXi / 4);
    multiplyAndOutput(k, a, g.tW, { v, vXi, ldv: nt }, v + positions * vXi, 0, a.cOut, ty0, ty1);
  }
}

/**
 * One chunk (tile rows [ty0, ty1)) of output channels [o0, o1): each transform position's GEMM of
 * those channels' weights (from panel o0 / GEMM_MR) and V's chunk (v: its first column, rows ldv
 * floats apart, positions vXi bytes apart) into M at m (those channels' rows only), then their
 * output transform: channels below cOut1 to y, the others to y2 (cOut1 = 0: all to y). F(2x2)
 * sums each product straight (gemm); F(4x4), whose output transform magnifies the products'
 * rounding more, by runs (gemmBlocked).
 */
function multiplyAndOutput(k: SimdExports, a: WinogradArgs, tW: number, vChunk: { v: number; vXi: number; ldv: number },
  m: number, o0: number, o1: number, ty0: number, ty1: number): void {
  const [output, gemm] = a.tile === 4 ? [k.winoOutput4, k.gemmBlocked] : [k.winoOutput2, k.gemm];
  const nt = (ty1 - ty0) * tW, count = o1 - o0, mXi = 4 * (count * nt + WINO_XI_PAD);
  const perXi = packedDenseFloats(a.cOut, a.cIn) * 4, panels = 4 * (o0 / GEMM_MR) * a.cIn * GEMM_MR;
  const positions = winogradPositions(a.tile);
  for (let xi = 0; xi < positions; xi++) {
    gemm(a.weights + xi * perXi + panels, vChunk.v + xi * vChunk.vXi, vChunk.ldv, m + xi * mXi, nt, a.zeros + 4 * o0, a.cIn, count, nt, 0, 0, ROW_MAJOR_BLOCK);
  }
  const plane = 4 * a.h * a.w;
  const split = a.cOut1 === 0 ? o1 : Math.min(o1, Math.max(o0, a.cOut1));
  if (split > o0) output(m, split - o0, count, ty0, ty1, tW, a.y + o0 * plane, a.h, a.w, a.bias + 4 * o0, a.slope, a.hasSlope);
  if (o1 > split) {
    output(m + 4 * (split - o0) * nt, o1 - split, count, ty0, ty1, tW, a.y2 + (split - a.cOut1) * plane, a.h, a.w,
      a.bias2 + 4 * (split - a.cOut1), a.slope2, a.hasSlope2);
  }
}

// Two tasks for small maps (winogradTwoTasks): one task cut by tile rows (winogradPart) has each
// piece multiply its few tiles by every position's weights, so the weights (positions C_in C_out
// floats: 9.4 MB at ResNet-50's 256 -> 256) stream from memory once per piece, up to 8 times a
// convolution on 2 threads against once or twice on 1 (layer3 on 40x40: 1.4x faster on 2 threads
// than on 1; the other convolutions 1.8-1.95x). Instead, the first task transforms the whole
// input into one V in the arena, by channels (winogradInputPart); after the barrier between the
// two, the second multiplies and transforms back by output channels (winogradGemmPart), so each
// weight streams once (once per chunk of tile rows, as on one thread). Every sum is the same as
// in one task, in the same order: the outputs are bit for bit winogradPart's.

/** Floats between two channels' rows in the whole-map V: every tile, and room for the 3 tiles a row's last vector stores past it. */
function wholeMapLdt(g: { tH: number; tW: number }): number {
  return g.tH * g.tW + 4;
}

/**
 * Two tasks pay where one task's pieces would stream weights that do not stay in a core's cache
 * (at least WINOGRAD_TWO_TASK_MIN_WEIGHT_BYTES), and where the whole-map V (written by the first
 * task, read by every thread in the second) is at most WINOGRAD_TWO_TASK_MAX_V_BYTES. Measured per
 * convolution on 2 threads (resnet50 and mobile0.25 at 640x640, one task -> two tasks, ms):
 * ResNet-50's 256 -> 256 on 40x40 (weights 9.4 MB, V 3.7 MB) 8.8-9.4 -> 6.9-7.5, 512 -> 512 on 20x20
 * 10.9 -> 8.1; on 80x80 (V 7.4 MB at 128 channels, 15 MB at 256) 7.5-8.6 -> 8.1-9.2 and 27.3 -> 31.8;
 * mobile0.25's 64 -> 64 (weights 0.6 MB) on 40x40 0.90 -> 1.07 and on 80x80 2.6 -> 3.5.
 */
export const WINOGRAD_TWO_TASK_MIN_WEIGHT_BYTES = 1 << 20;
export const WINOGRAD_TWO_TASK_MAX_V_BYTES = 4 << 20;

/**
 * Whether a Winograd convolution on `threads` threads (`pieces` pieces) runs as two tasks: its
 * weights and V sized as above, and the one task's weights streamed again by its other pieces
 * (C_out (pieces with tiles - 1) per C_in and position) outweighing the whole V read again by the
 * other threads (tH tW (threads - 1)).
 */
export function winogradTwoTasks(cIn: number, cOut: number, h: number, w: number, tile: WinogradTile, pieces: number, threads: number): boolean {
  if (threads <= 1) return false;
  const g = winogradGeometry(h, w, tile);
  const positions = winogradPositions(tile);
  return 4 * positions * cIn * cOut >= WINOGRAD_TWO_TASK_MIN_WEIGHT_BYTES && 4 * positions * cIn * g.tH * g.tW <= WINOGRAD_TWO_TASK_MAX_V_BYTES
    && cOut * (Math.min(pieces, g.tH) - 1) > g.tH * g.tW * (threads - 1);
}

/** Floats of the whole-map V the two tasks share (in the arena, one per convolution). */
export function winogradVFloats(cIn: number, h: number, w: number, tile: WinogradTile): number {
  return winogradPositions(tile) * (cIn * wholeMapLdt(winogradGeometry(h, w, tile)) + WINO_XI_PAD);
}

/** Bytes of one thread's scratch for the two tasks: one channel's padded rows (the first), a chunk's M of every output channel (the second). */
export function winogradTwoTaskScratchBytes(cOut: number, h: number, w: number, tile: WinogradTile): number {
  const g = winogradGeometry(h, w, tile);
  const nt = winogradChunkRows(g.tW4) * g.tW;
  return 4 * Math.max((tile * g.tH + 2) * g.wP, winogradPositions(tile) * (cOut * nt + WINO_XI_PAD));
}

/** The two tasks' arguments: winogradPart's, and where the whole-map V is. */
export interface WinogradTwoTaskArgs extends WinogradArgs {
  v: number;
}

/** The first task's piece: its share of the input channels, each padded then transformed into V. */
export function winogradInputPart(k: SimdExports, a: WinogradTwoTaskArgs, slot: number, piece: number, pieces: number): void {
  const g = winogradGeometry(a.h, a.w, a.tile);
  const input = a.tile === 4 ? k.winoInput4 : k.winoInput2;
  const [c0, c1] = share(a.cIn, 1, piece, pieces);
  const xpad = a.scratch + slot * a.scratchBytes;
  const rowsP = a.tile * g.tH + 2, ldt = wholeMapLdt(g), xiFloats = a.cIn * ldt + WINO_XI_PAD;
  for (let ic = c0; ic < c1; ic++) {
    k.winoPadRows(a.x + 4 * ic * a.h * a.w, a.h, a.w, 1, 0, rowsP, xpad, g.wP);
    input(xpad, rowsP, g.wP, 1, 0, g.tH, g.tW, a.v + 4 * ic * ldt, ldt, xiFloats);
  }
}

/**
 * The second task's piece: its share of the output channels (whole panels of GEMM_MR), by chunks
 * of tile rows: each position's GEMM on those channels' weights and the chunk's columns of V, then
 * the output transform of those channels (to y, or to y2 past cOut1).
 */
export function winogradGemmPart(k: SimdExports, a: WinogradTwoTaskArgs, slot: number, piece: number, pieces: number): void {
  const g = winogradGeometry(a.h, a.w, a.tile);
  const [o0, o1] = share(a.cOut, GEMM_MR, piece, pieces);
  if (o0 >= o1) return;
  const ldt = wholeMapLdt(g), vXi = 4 * (a.cIn * ldt + WINO_XI_PAD);
  const rows = winogradChunkRows(g.tW4);
  for (let ty0 = 0; ty0 < g.tH; ty0 += rows) {
    const ty1 = Math.min(g.tH, ty0 + rows);
    multiplyAndOutput(k, a, g.tW, { v: a.v + 4 * ty0 * g.tW, vXi, ldv: ldt }, a.scratch + slot * a.scratchBytes, o0, o1, ty0, ty1);
  }
}
