// a, b: (n) -> y: (n);  x: (C, H, W) -> (H W, C)
// actCopy / addAct: y = leaky(a) or leaky(a + b), the backend's add (with its activation) and
//   cat (each input copied, activated, into its slice of the output), split by 16-float chunks.
// headPermute: a head's (A k, H, W) -> (H W A, k), the transpose of (C, HW), split by pixels.
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
