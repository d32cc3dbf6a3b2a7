// a, b: (n) -> y: (n);  x: (C, H, W) -> (H W, C)
// actCopy / addAct: y = leaky(a) or leaky(a + b), the backend's add (with its activation) and
//   cat (each input copied, activated, into its slice of the output), split by 16-float chunks.
// headPermute: a head's (A k, H, W) -> (H W A, k), the transpose of (C, HW), split by pixels.
// nearest: F.interpolate(x, size=(H_out, W_out), mode='nearest') through the backend's row and
//   column source maps (interpolate_nearest.ts nearestSourceIndex, int32 in the arena); an output
//   row whose source row is the previous one's is a copy of it. Split by channels.
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

export function nearestPart(k: SimdExports, a: NearestArgs, _slot: number, piece: number, pieces: number): void {
  const [lo, hi] = share(a.c, 1, piece, pieces);
  if (lo < hi) k.nearest(a.x, a.h, a.w, a.y, a.hOut, a.wOut, a.rows, a.cols, lo, hi);
}

/** y = leaky(a) (b = 0) or leaky(a + b), over n floats; split in 64-byte-aligned chunks. */
export interface ElementwiseArgs {
  a: number; b: number; y: number; n: number; slope: number; hasSlope: number;
}

export function elementwisePart(k: SimdExports, e: ElementwiseArgs, _slot: number, piece: number, pieces: number): void {
  const [lo, hi] = share(e.n, 16, piece, pieces);
  if (lo >= hi) return;
  if (e.b === 0) k.actCopy(e.a + 4 * lo, e.y + 4 * lo, hi - lo, e.slope, e.hasSlope);
  else k.addAct(e.a + 4 * lo, e.b + 4 * lo, e.y + 4 * lo, hi - lo, e.slope, e.hasSlope);
}

/** A head's (A k, H, W) -> (H W A, k): the transpose of (C, HW), split by pixels. */
export interface PermuteArgs {
  x: number; y: number; c: number; hw: number;
}

export function headPermutePart(k: SimdExports, a: PermuteArgs, _slot: number, piece: number, pieces: number): void {
  const [lo, hi] = share(a.hw, 16, piece, pieces);
  if (lo < hi) k.headPermute(a.x, a.y, a.c, a.hw, lo, hi);
}
