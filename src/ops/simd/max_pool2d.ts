// x: (C, H, W) -> (C, H_out, W_out), nn.MaxPool2d(kernel 3, stride 2, padding 1): ResNet-50's stem
// (body.maxpool). maxPool2d3x3s2: 4 outputs per vector; a window's clipped rows and columns are
// replaced by a duplicate of a row or column inside it (max is idempotent). A NaN in a window
// makes its output NaN, as in PyTorch: the vectors take the maximum by f32x4.pmax (one maxps on
// x64, where f32x4.max's NaN rules take 8 instructions in V8) and note where a value is NaN
// (f32x4.ne of a value with itself), then set those lanes to NaN (all ones); the scalar edges use
// f32.max, which propagates NaN. Split by channels.
import { Code } from '../../wasm/emitter.js';
import { share, type SimdExports } from './common.js';

/**
 * maxPool2d3x3s2(x, h, w, y, hOut, wOut, cStart, cEnd): y[ch][oh][ow] = the max of x[ch] over rows
 * 2 oh - 1 .. 2 oh + 1 and columns 2 ow - 1 .. 2 ow + 1 inside the image, channels [cStart, cEnd).
 * Rows: the clipped ones (-1, h) read row 0 or h - 1 instead, which the window holds anyway.
 * Columns: 4 outputs ow .. ow + 3 a vector, from the 8 floats at 2 ow (their even and odd lanes:
 * columns 2 ow + 2 l and 2 ow + 2 l + 1) and the 8 at 2 ow - 2 (odd lanes: 2 ow + 2 l - 1), while
 * 1 <= ow and 2 ow + 7 < w; the outputs before and after (ow = 0, the right edge) one at a time.
 */
export function emitMaxPool2d3x3s2(): Code {
  const c = new Code(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [x, h, w, y, hOut, wOut, cStart, cEnd] = [0, 1, 2, 3, 4, 5, 6, 7];
  const ch = c.local('i32'), oh = c.local('i32'), ow = c.local('i32'), rowBytes = c.local('i32'), plane = c.local('i32');
  const r = [c.local('i32'), c.local('i32'), c.local('i32')];
  const dst = c.local('i32'), iw = c.local('i32'), iwEnd = c.local('i32'), q = c.local('i32'), vecEnd = c.local('i32');
  const acc = c.local('v128'), va = c.local('v128'), vb = c.local('v128'), m = c.local('f32');
  const ve = c.local('v128'), vo = c.local('v128'), vs = c.local('v128'), nan = c.local('v128');
  c.localGet(w).i32Const(2).i32Shl().localSet(rowBytes);
  // vectors start at ow = 1, 5, 9, ... while ow + 3 < vecEnd = min(wOut, floor((w - 8) / 2) + 4):
  // then the last one's reads end at column 2 ow + 7 < w; the scalar loop takes the outputs after
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
          c.localGet(va).localGet(vb).f32x4Shuffle(0, 2, 4, 6).localSet(ve);
          c.localGet(va).localGet(vb).f32x4Shuffle(1, 3, 5, 7).localSet(vo);
          c.localGet(q).i32Const(8).i32Sub().localTee(q).v128Load(0).localGet(q).v128Load(16).f32x4Shuffle(1, 3, 5, 7).localSet(vs);
          c.localGet(ve).localGet(ve).f32x4Ne().localGet(vo).localGet(vo).f32x4Ne().v128Or().localGet(vs).localGet(vs).f32x4Ne().v128Or();
          if (k > 0) c.localGet(nan).v128Or();
          c.localSet(nan);
          c.localGet(ve).localGet(vo).f32x4Pmax().localGet(vs).f32x4Pmax();
          if (k > 0) c.localGet(acc).f32x4Pmax();
          c.localSet(acc);
        });
        c.localGet(dst).localGet(ow).i32Const(2).i32Shl().i32Add().localGet(acc).localGet(nan).v128Or().v128Store();
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
export interface MaxPool2dArgs {
  x: number; c: number; h: number; w: number; y: number; hOut: number; wOut: number;
}

export function maxPool2dPart(k: SimdExports, a: MaxPool2dArgs, _slot: number, piece: number, pieces: number): void {
  const [lo, hi] = share(a.c, 1, piece, pieces);
  if (lo < hi) k.maxPool2d3x3s2(a.x, a.h, a.w, a.y, a.hOut, a.wOut, lo, hi);
}
