// Tensor comparison for tests: |actual - expected| <= abs + rel * |expected| elementwise.
// A failure names the tensor, the worst index (flat and per dimension), both values and the error.
import * as assert from 'uvu/assert';
import { formatShape, type Tensor } from '../../src/tensor.js';

export interface Tolerance {
  abs: number;
  rel: number;
}

export interface Diff {
  maxAbs: number;
  worst: number;
  actual: number;
  expected: number;
  /** the largest (|a - e| - abs - rel |e|): > 0 means out of tolerance */
  excess: number;
  worstExcess: number;
}

export function diff(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance = { abs: 0, rel: 0 }): Diff {
  let maxAbs = 0, worst = 0, excess = -Infinity, worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    const d = a === e ? 0 : Math.abs(a - e); // equal infinities are equal, not NaN apart
    const x = Number.isNaN(d) ? Infinity : d - tol.abs - tol.rel * Math.abs(e);
    if (d > maxAbs || Number.isNaN(d)) { maxAbs = Number.isNaN(d) ? Infinity : d; worst = i; }
    if (x > excess) { excess = x; worstExcess = i; }
  }
  return { maxAbs, worst, actual: actual[worst] ?? NaN, expected: expected[worst] ?? NaN, excess, worstExcess };
}

export function unravel(index: number, shape: readonly number[]): number[] {
  const out: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    out.unshift(index % shape[d]!);
    index = Math.floor(index / shape[d]!);
  }
  return out;
}

export function assertClose(name: string, actual: Tensor, expected: Tensor, tol: Tolerance): Diff {
  assert.equal(actual.shape, expected.shape, `${name}: shape ${formatShape(actual.shape)} != expected ${formatShape(expected.shape)}`);
  const d = diff(actual.data, expected.data, tol);
  if (d.excess > 0) {
    const i = d.worstExcess;
    const a = actual.data[i]!, e = expected.data[i]!;
    assert.unreachable(
      `${name}: out of tolerance (abs ${tol.abs}, rel ${tol.rel}) at index ${i} ${formatShape(unravel(i, actual.shape))}: ` +
      `got ${a}, expected ${e}, error ${Math.abs(a - e)}; max abs error ${d.maxAbs}`,
    );
  }
  return d;
}
