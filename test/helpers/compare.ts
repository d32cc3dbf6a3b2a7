// assertClose: the harness's comparator (src/harness/compare.ts) as a uvu assertion. A failure
// names the tensor, the worst index (flat and per dimension), both values and the error.
import * as assert from 'uvu/assert';
import { compareTensors, type Check, type Tolerance } from '../../src/harness/compare.js';
import type { Tensor } from '../../src/tensor.js';

export type { Tolerance } from '../../src/harness/compare.js';

/**
 * The CPU bound against PyTorch fp32: PyTorch's own fp32 result differs from fp64 by about
 * 1e-5 absolute on every module output at 640x640 (measured by test/reference.test.ts), and ours
 * accumulates in float64 and rounds each op once, so 1e-4 absolute leaves a 10x margin while
 * still catching any wrong index, padding, slope or mapping (those err by 1e-2 or more).
 */
export const CPU_VS_TORCH: Tolerance = { abs: 1e-4, rel: 0 };

export function assertClose(name: string, actual: Tensor, expected: Tensor, tol: Tolerance): Check {
  const c = compareTensors(name, actual, expected, tol);
  if (!c.ok) assert.unreachable(c.message);
  return c;
}
