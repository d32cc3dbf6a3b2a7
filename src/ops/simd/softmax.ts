// x: (N, K) -> (N, K), F.softmax(x, dim=-1), over the arena: the cpu-simd backend's softmax as a
// pool task (simd_pool.ts TASKS.softmax), split by rows. Plain JS over a Float32Array view of the
// shared memory, the same arithmetic on every thread (Math.exp, float64), so the result does not
// depend on the split: softmaxNaive's values bit for bit (ops/softmax.cpu.ts; test/simd.test.ts).
import { share, type SimdExports } from './common.js';

export interface SoftmaxArgs {
  /** byte offsets of the input and the output, N K floats each */
  x: number;
  y: number;
  rows: number;
  k: number;
}

/** Rows per unit of a piece: a piece's rows start on a 64-byte line for k = 2 (RetinaFace's ClassHead). */
const ROW_GRAIN = 8;

/** Piece `piece` of `pieces`: its rows of the softmax. */
export function softmaxPart(k: SimdExports, a: SoftmaxArgs, _slot: number, piece: number, pieces: number): void {
  const [r0, r1] = share(a.rows, ROW_GRAIN, piece, pieces);
  const X = new Float32Array(k.memory.buffer, a.x + 4 * r0 * a.k, (r1 - r0) * a.k);
  const Y = new Float32Array(k.memory.buffer, a.y + 4 * r0 * a.k, (r1 - r0) * a.k);
  softmaxRows(X, Y, a.k);
}

/** Y = softmax of each row of k values of X (whole rows), as softmaxNaive computes it. */
function softmaxRows(X: Float32Array, Y: Float32Array, k: number): void {
  if (k === 2) {
    // RetinaFace's ClassHead: the larger of two finite scores gives exp(0) = 1 exactly, so one
    // exp a row gives the general loop's values bit for bit (NaN and infinities included: x - m
    // is then not 0 and goes through exp as there).
    for (let r = 0; r < X.length; r += 2) {
      const a = X[r]!, b = X[r + 1]!, m = Math.max(a, b);
      const ea = a - m === 0 ? 1 : Math.exp(a - m), eb = b - m === 0 ? 1 : Math.exp(b - m), s = ea + eb;
      Y[r] = ea / s;
      Y[r + 1] = eb / s;
    }
    return;
  }
  const ex = new Float64Array(k);
  for (let r = 0; r < X.length; r += k) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, X[r + j]!);
    let s = 0;
    for (let j = 0; j < k; j++) {
      const e = Math.exp(X[r + j]! - m);
      ex[j] = e; // in double, as the reference divides it
      s += e;
    }
    for (let j = 0; j < k; j++) Y[r + j] = ex[j]! / s;
  }
}
