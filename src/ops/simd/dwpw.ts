// x: (C, H, W) -> depthwise 3x3 (stride 1 or 2, padding 1) + bias + act -> (C, H_out, W_out)
//   -> pointwise 1x1 (C -> C_out) + bias + act -> y: (C_out, H_out, W_out)
// A depthwise-separable block (models/net.py conv_dw) as one task: each piece is a range of the
// output rows, run band by band; a band's depthwise output goes straight into the thread's
// scratch in gemm's NR-pixel panels (dwPwPart: the band's rows end to end, or each padded to
// whole panels), where the pointwise gemm reads it while it is still in cache. Unfused, the depthwise output makes a
// round trip through memory (written, then read and copied into panels by packB) and the block
// costs two dispatches instead of one (issue #16: 13 of mobile0.25's 80 sync points).
// The arithmetic is the unfused kernels', in the same order: the result is bit-identical.
import { share, type SimdExports } from './common.js';
import { depthwisePlaneFloats } from './depthwise.js';
import { GEMM_NR } from './gemm.js';

/** Floats of one band's panels, at most: a band stays within L2 while gemm reads it GEMM_MR output channels at a time. */
const BAND_FLOATS = 65536;

/** The block's geometry and where its folded weights live. */
export interface DwPwArgs {
  x: number; c: number; h: number; w: number; stride: number; hOut: number; wOut: number;
  dwWeights: number; dwBias: number; dwSlope: number; dwHasSlope: number;
  pwWeights: number; pwBias: number; cOut: number; y: number; slope: number; hasSlope: number;
  /** Rows per band (dwPwBandRows). */
  bandRows: number;
  /** Per-thread scratch (dwPwScratchBytes): thread `slot` uses scratch + slot * scratchBytes. */
  scratch: number; scratchBytes: number;
}

/** An output row as whole NR-pixel panels (the depthwise kernel stores full vectors up to there). */
const paddedRow = (wOut: number) => Math.ceil(wOut / GEMM_NR) * GEMM_NR;

/** Output rows per band: as many rows padded to whole panels as fit BAND_FLOATS with all C channels (rows end to end take no more), at least one. */
export function dwPwBandRows(c: number, wOut: number): number {
  return Math.max(1, Math.floor(BAND_FLOATS / (c * paddedRow(wOut))));
}

/** Bytes of scratch one thread needs: a band's panels, then the depthwise kernel's input plane. */
export function dwPwScratchBytes(c: number, w: number, wOut: number): number {
  return 4 * (c * paddedRow(wOut) * dwPwBandRows(c, wOut) + GEMM_NR + depthwisePlaneFloats(w));
}

/**
 * One piece, on thread `slot`'s scratch: output rows [lo, hi) in bands. The depthwise kernel
 * stores channel ch's vector of band pixel q at ((q / NR) * C + ch) * NR floats (packB's layout,
 * so gemm reads each panel front to back). Where W_out is a multiple of 4, a band's pixels are
 * its rows end to end (q = (oh - band start) * W_out + ow, a vector never straddling two panels),
 * the output rows of the band are as contiguous in y, and gemm runs once on the band. Otherwise
 * each row is padded to whole panels (q = (oh - band start) * rowPix + ow, rowPix the padded
 * width) and gemm runs once per row. (Before the rows went end to end, every width took that way,
 * and mobile0.25's 20-pixel rows of stage3 at 640x640 were 24 pixels of products.)
 */
export function dwPwPart(k: SimdExports, a: DwPwArgs, slot: number, piece: number, pieces: number): void {
  const [lo, hi] = share(a.hOut, 1, piece, pieces);
  if (lo >= hi) return;
  const contiguous = a.wOut % 4 === 0;
  const rowPix = contiguous ? a.wOut : paddedRow(a.wOut);
  const panelBytes = 4 * GEMM_NR * a.c; // one NR-pixel panel of all C channels
  const rowBytes = (rowPix / GEMM_NR) * panelBytes; // per-row mode only (rowPix a multiple of NR)
  const band = a.scratch + slot * a.scratchBytes;
  const plane = band + 4 * (a.c * paddedRow(a.wOut) * a.bandRows + GEMM_NR);
  const dw = a.stride === 1 ? k.depthwise3x3s1 : k.depthwise3x3s2;
  const P = a.hOut * a.wOut;
  for (let r0 = lo; r0 < hi; r0 += a.bandRows) {
    const r1 = Math.min(hi, r0 + a.bandRows);
    dw(a.x, a.dwWeights, a.dwBias, band, a.h, a.w, r0, r1, a.wOut, 0, a.c, plane, a.dwSlope, a.dwHasSlope,
      4 * GEMM_NR, rowPix, panelBytes);
    if (contiguous) {
      k.gemm(a.pwWeights, band, GEMM_NR, a.y + 4 * r0 * a.wOut, P, a.pwBias,
        a.c, a.cOut, (r1 - r0) * a.wOut, a.slope, a.hasSlope, panelBytes);
    } else {
      for (let r = r0; r < r1; r++) {
        k.gemm(a.pwWeights, band + (r - r0) * rowBytes, GEMM_NR, a.y + 4 * r * a.wOut, P, a.pwBias,
          a.c, a.cOut, a.wOut, a.slope, a.hasSlope, panelBytes);
      }
    }
  }
}
