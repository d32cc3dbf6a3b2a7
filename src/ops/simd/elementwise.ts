// a, b: (n) -> y: (n);  x: (C, H, W) -> (H W, C)
// actCopy / addAct: y = leaky(a) or leaky(a + b), the backend's add (with its activation) and
//   cat (each input copied, activated, into its slice of the output), split by 16-float chunks.
// headPermute: a head's (A k, H, W) -> (H W A, k), the transpose of (C, HW), split by pixels.
// nearest: F.interpolate(x, size=(H_out, W_out), mode='nearest') through the backend's row and
//   column source maps (interpolate_nearest.ts nearestSourceIndex, int32 in the arena); an output
//   row whose source row is the previous one's is a copy of it. Split by channels.
// maxPool3x3s2: nn.MaxPool2d(3, 2, 1) (ResNet-50's stem), 4 outputs per vector: a window's
//   clipped rows and columns are replaced by a duplicate of a row or column inside it (max is
//   idempotent), f32x4.max / f32.max propagate NaN as PyTorch does. Split by channels.
import { Code } from '../../wasm/emitter.js';
import { emitLeaky, share, type SimdExports } from './common.js';

/**
 * actCopy(a, y, n, slope, hasSlope): y = leaky(a); addAct(a, b, y, n, slope, hasSlope):
 * y = leaky(a + b) (leaky only when hasSlope). 4 floats per vector, then a scalar tail.
 */
export function emitElementwise(withB: boolean): Code {
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
export function emitHeadPermute(): Code {
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

/**
 * nearest(x, h, w, y, hOut, wOut, rows, cols, cStart, cEnd): y[ch][oh][ow] = x[ch][rows[oh]][cols[ow]]
 * for channels [cStart, cEnd); rows and cols are int32 source indices.
 */
export function emitNearest(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, h, w, y, hOut, wOut, rows, cols, cStart, cEnd] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const ch = c.local('i32'), oh = c.local('i32'), ow = c.local('i32'), ih = c.local('i32'), prev = c.local('i32');
  const src = c.local('i32'), dst = c.local('i32'), rowBytes = c.local('i32');
  c.localGet(wOut).i32Const(2).i32Shl().localSet(rowBytes);
  c.forRange(ch, () => c.localGet(cStart), () => c.localGet(cEnd), 1, () => {
    c.i32Const(-1).localSet(prev);
    c.forRange(oh, () => c.i32Const(0), () => c.localGet(hOut), 1, () => {
      c.localGet(rows).localGet(oh).i32Const(2).i32Shl().i32Add().i32Load().localSet(ih);
      c.localGet(y).localGet(ch).localGet(hOut).i32Mul().localGet(oh).i32Add().localGet(rowBytes).i32Mul().i32Add().localSet(dst);
      c.localGet(ih).localGet(prev).i32Eq().if(() => {
        c.localGet(dst).localGet(dst).localGet(rowBytes).i32Sub().localGet(rowBytes).memoryCopy();
      }, () => {
        c.localGet(x).localGet(ch).localGet(h).i32Mul().localGet(ih).i32Add().localGet(w).i32Mul().i32Const(2).i32Shl().i32Add().localSet(src);
        c.forRange(ow, () => c.i32Const(0), () => c.localGet(wOut), 1, () => {
          c.localGet(dst).localGet(ow).i32Const(2).i32Shl().i32Add();
          c.localGet(src).localGet(cols).localGet(ow).i32Const(2).i32Shl().i32Add().i32Load().i32Const(2).i32Shl().i32Add().f32Load();
          c.f32Store();
        });
      });
      c.localGet(ih).localSet(prev);
    });
  });
  return c;
}

/** F.interpolate nearest of x (C, H, W) to (C, H_out, W_out) through int32 source maps in the arena. */
export interface NearestArgs {
  x: number; c: number; h: number; w: number; y: number; hOut: number; wOut: number; rows: number; cols: number;
}

export function nearestPart(k: SimdExports, a: NearestArgs, t: number, nThreads: number): void {
  const [lo, hi] = share(a.c, 1, t, nThreads);
  if (lo < hi) k.nearest(a.x, a.h, a.w, a.y, a.hOut, a.wOut, a.rows, a.cols, lo, hi);
}

/**
 * maxPool3x3s2(x, h, w, y, hOut, wOut, cStart, cEnd): y[ch][oh][ow] = the max of x[ch] over rows
 * 2 oh - 1 .. 2 oh + 1 and columns 2 ow - 1 .. 2 ow + 1 inside the image, channels [cStart, cEnd).
 * Rows: the clipped ones (-1, h) read row 0 or h - 1 instead, which the window holds anyway.
 * Columns: 4 outputs ow .. ow + 3 a vector from 8 + 4 loaded floats a row while 1 <= ow and
 * 2 ow + 7 < w; the outputs before and after (ow = 0, the right edge) one at a time.
 */
export function emitMaxPool3x3s2(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, h, w, y, hOut, wOut, cStart, cEnd] = [0, 1, 2, 3, 4, 5, 6, 7];
  const ch = c.local('i32'), oh = c.local('i32'), ow = c.local('i32'), rowBytes = c.local('i32'), plane = c.local('i32');
  const r = [c.local('i32'), c.local('i32'), c.local('i32')];
  const dst = c.local('i32'), iw = c.local('i32'), iwEnd = c.local('i32'), q = c.local('i32'), vecEnd = c.local('i32');
  const acc = c.local('v128'), va = c.local('v128'), vb = c.local('v128'), m = c.local('f32');
  c.localGet(w).i32Const(2).i32Shl().localSet(rowBytes);
  // whole vectors cover outputs 1 .. vecEnd - 1, vecEnd = min(wOut, floor((w - 8) / 2) + 4): the last one's reads end at column 2 ow + 7 < w
  c.localGet(w).i32Const(8).i32Sub().i32Const(0).localGet(w).i32Const(8).i32GeS().select().i32Const(1).i32ShrU().i32Const(4).i32Add().localSet(vecEnd);
  c.localGet(vecEnd).localGet(wOut).localGet(vecEnd).localGet(wOut).i32LtS().select().localSet(vecEnd);
  c.forRange(ch, () => c.localGet(cStart), () => c.localGet(cEnd), 1, () => {
    c.localGet(x).localGet(ch).localGet(h).i32Mul().localGet(rowBytes).i32Mul().i32Add().localSet(plane);
    c.forRange(oh, () => c.i32Const(0), () => c.localGet(hOut), 1, () => {
      // rows 2 oh - 1 (or 0), 2 oh, 2 oh + 1 (or h - 1): 2 oh < h always
      c.localGet(oh).i32Const(1).i32Shl().localTee(q).i32Const(1).i32Sub().i32Const(0).localGet(q).i32Const(1).i32GeS().select();
      c.localGet(rowBytes).i32Mul().localGet(plane).i32Add().localSet(r[0]!);
      c.localGet(q).localGet(rowBytes).i32Mul().localGet(plane).i32Add().localSet(r[1]!);
      c.localGet(q).i32Const(1).i32Add().localGet(q).localGet(q).i32Const(1).i32Add().localGet(h).i32LtS().select();
      c.localGet(rowBytes).i32Mul().localGet(plane).i32Add().localSet(r[2]!);
      c.localGet(y).localGet(ch).localGet(hOut).i32Mul().localGet(oh).i32Add().localGet(wOut).i32Mul().i32Const(2).i32Shl().i32Add().localSet(dst);
      // one output at a time: columns max(0, 2 ow - 1) .. min(w, 2 ow + 2)
      const scalar = () => {
        c.localGet(ow).i32Const(1).i32Shl().localTee(iw).i32Const(1).i32Sub().i32Const(0).localGet(iw).i32Const(1).i32GeS().select().localSet(iw);
        c.localGet(ow).i32Const(1).i32Shl().i32Const(2).i32Add().localTee(iwEnd).localGet(w).localGet(iwEnd).localGet(w).i32LtS().select().localSet(iwEnd);
        c.localGet(r[1]!).localGet(iw).i32Const(2).i32Shl().i32Add().f32Load().localSet(m);
        c.forRange(q, () => c.localGet(iw), () => c.localGet(iwEnd), 1, () => {
          for (const row of r) c.localGet(m).localGet(row).localGet(q).i32Const(2).i32Shl().i32Add().f32Load().f32Max().localSet(m);
        });
        c.localGet(dst).localGet(ow).i32Const(2).i32Shl().i32Add().localGet(m).f32Store();
      };
      c.i32Const(0).localSet(ow);
      c.localGet(wOut).i32Const(0).i32GtS().if(scalar);
      // vectors: output ow + l reads columns 2 (ow + l) - 1 .. 2 (ow + l) + 1: the odd lanes of
      // [2 ow - 2, 2 ow + 6) and the even and odd lanes of [2 ow, 2 ow + 8)
      c.forRange(ow, () => c.i32Const(1), () => c.localGet(vecEnd).i32Const(3).i32Sub(), 4, () => {
        r.forEach((row, k) => {
          c.localGet(row).localGet(ow).i32Const(3).i32Shl().i32Add().localTee(q).v128Load(0).localSet(va);
          c.localGet(q).v128Load(16).localSet(vb);
          c.localGet(va).localGet(vb).f32x4Shuffle(0, 2, 4, 6).localGet(va).localGet(vb).f32x4Shuffle(1, 3, 5, 7).f32x4Max();
          if (k > 0) c.localGet(acc).f32x4Max();
          c.localSet(acc);
          c.localGet(q).i32Const(8).i32Sub().localTee(q).v128Load(0).localGet(q).v128Load(16).f32x4Shuffle(1, 3, 5, 7)
            .localGet(acc).f32x4Max().localSet(acc);
        });
        c.localGet(dst).localGet(ow).i32Const(2).i32Shl().i32Add().localGet(acc).v128Store();
      });
      // the rest of the row (ow is where the vectors stopped)
      c.block(() => c.loop(() => {
        c.localGet(ow).localGet(wOut).i32GeS().brIf(1);
        scalar();
        c.localGet(ow).i32Const(1).i32Add().localSet(ow).br(0);
      }));
    });
  });
  return c;
}

/** nn.MaxPool2d(3, 2, 1) of x (C, H, W) into y (C, H_out, W_out). */
export interface MaxPoolArgs {
  x: number; c: number; h: number; w: number; y: number; hOut: number; wOut: number;
}

export function maxPoolPart(k: SimdExports, a: MaxPoolArgs, t: number, nThreads: number): void {
  const [lo, hi] = share(a.c, 1, t, nThreads);
  if (lo < hi) k.maxPool3x3s2(a.x, a.h, a.w, a.y, a.hOut, a.wOut, lo, hi);
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
