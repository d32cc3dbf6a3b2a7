// The one comparator of the tests and the benchmarks: elementwise |actual - expected| <= abs + rel |expected|
// (NaN never passes; equal infinities are equal). A failure names what was compared (op, shape,
// backend: the caller's label), the worst index, flat and per dimension, both values and the error.
// Pure: runs in Node and in the browser pages.
import { formatShape, shapeEquals, type Tensor } from '../tensor.js';

export interface Tolerance {
  abs: number;
  rel: number;
}

export interface Check {
  ok: boolean;
  /** How much of the output was compared: 'all values', 'channels 0, 21, 42, 63 of 64'. */
  compared: string;
  /** largest |actual - expected| (Infinity for a NaN or a shape mismatch) */
  maxAbsError: number;
  /** largest |a - e| - abs - rel |e|: > 0 is out of tolerance */
  excess: number;
  /** On failure: the label, the index, both values and the error. */
  message?: string;
}

export function unravel(index: number, shape: readonly number[]): number[] {
  const out: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    out.unshift(index % shape[d]!);
    index = Math.floor(index / shape[d]!);
  }
  return out;
}

/** `index 17 (0, 3, 2)`: the flat index and the per-dimension one. */
export const indexIn = (shape: readonly number[]) => (i: number): string => `index ${i} ${formatShape(unravel(i, shape))}`;

/**
 * Compares actual[i] with expected[i] for every i; `at(i)` names index i for the message (default
 * the flat index), `compared` says what the arrays are a part of.
 */
export function compareValues(
  label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance,
  at: (i: number) => string = (i) => `index ${i}`, compared = 'all values',
): Check {
  if (actual.length !== expected.length) {
    return { ok: false, compared, maxAbsError: Infinity, excess: Infinity, message: `${label}: ${actual.length} values, expected ${expected.length}` };
  }
  let maxAbs = 0, excess = -Infinity, worst = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    const d = a === e ? 0 : Math.abs(a - e); // equal infinities are equal, not NaN apart
    const x = Number.isNaN(d) ? Infinity : d - tol.abs - tol.rel * Math.abs(e);
    if (Number.isNaN(d) || d > maxAbs) maxAbs = Number.isNaN(d) ? Infinity : d;
    if (x > excess) { excess = x; worst = i; }
  }
  if (!(excess > 0)) return { ok: true, compared, maxAbsError: maxAbs, excess };
  const a = actual[worst]!, e = expected[worst]!;
  return {
    ok: false, compared, maxAbsError: maxAbs, excess,
    message: `${label}: out of tolerance (abs ${tol.abs}, rel ${tol.rel}) at ${at(worst)}: ` +
      `got ${a}, expected ${e}, error ${Math.abs(a - e)}; max abs error ${maxAbs} over ${compared}`,
  };
}

export function compareTensors(label: string, actual: Tensor, expected: Tensor, tol: Tolerance): Check {
  if (!shapeEquals(actual.shape, expected.shape)) {
    return {
      ok: false, compared: 'shape', maxAbsError: Infinity, excess: Infinity,
      message: `${label}: shape ${formatShape(actual.shape)}, expected ${formatShape(expected.shape)}`,
    };
  }
  return compareValues(label, actual.data, expected.data, tol, indexIn(expected.shape));
}
