// assertClose: the harness's comparator (src/harness/compare.ts) as a uvu assertion. A failure
// names the tensor, the worst index (flat and per dimension), both values and the error.
import * as assert from 'uvu/assert';
import { compareTensors, type Check, type Tolerance } from '../../src/harness/compare.js';
import type { Tensor } from '../../src/tensor.js';

export type { Tolerance } from '../../src/harness/compare.js';

export function assertClose(name: string, actual: Tensor, expected: Tensor, tol: Tolerance): Check {
  const c = compareTensors(name, actual, expected, tol);
  if (!c.ok) assert.unreachable(c.message);
  return c;
}
