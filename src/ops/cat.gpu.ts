// xs[i]: (C_i, H, W) -> (sum C_i, H, W), torch.cat along channels, then the activation if any
// (SSH: F.relu(torch.cat([conv3X3, conv5X5, conv7X7], dim=1))); and xs[i]: (A_i, k) -> (sum A_i, k),
// the heads' concatenation over levels. One kernel takes up to three inputs (what RetinaFace
// concatenates); the backend folds longer lists pairwise. A missing input is passed as the first
// one again with a count of 0: it is never read.
import { formatShape, shapeEquals } from '../tensor.js';
import { ROW_PAIR, rowsOutput, rowsPerSlab, slopeConstants, type KernelSpec, type KernelThis } from './gpu_kernel.js';
import type { Slope } from './activation.js';

interface CatConstants { n0: number; n1: number; act: number; slope: number; o0: number; o1: number; o2: number }

/**
 * output [W, H, sum C_i] -> x = w, y = h, z = channel; no loops; precision 'single'. Channels
 * [0, n0) come from a (from its channel o0), the next n1 from b (from o1), the rest from c (o2):
 * the offsets let one output part of a split tensor take a segment of each input part.
 */
export function catChannelsKernel(this: KernelThis<CatConstants>, a: number[][][], b: number[][][], c: number[][][]): number {
  const z = this.thread.z, y = this.thread.y, x = this.thread.x;
  let v = 0;
  if (z < this.constants.n0) v = a[this.constants.o0 + z]![y]![x]!;
  else if (z < this.constants.n0 + this.constants.n1) v = b[this.constants.o1 + z - this.constants.n0]![y]![x]!;
  else v = c[this.constants.o2 + z - this.constants.n0 - this.constants.n1]![y]![x]!;
  if (this.constants.act === 1 && v < 0) v = v * this.constants.slope;
  return v;
}

interface CatRowsConstants { n0: number; n1: number; n: number; y: number; ya: number; yb: number; yc: number }

/**
 * output [k, Y, ceil(N / Y)] (ROWS_LAYOUT), N = sum A_i -> x = column j, row r = z * Y + y (0
 * past row N); no loops; precision 'single'. Rows [0, n0) come from a, the next n1 from b, the
 * rest from c, each read in its own layout (ya, yb, yc rows per slab); quotients of (r + 0.5) as
 * in head_permute.
 */
export function catRowsKernel(this: KernelThis<CatRowsConstants>, a: number[][][], b: number[][][], c: number[][][]): number {
  const x = this.thread.x;
  let r = this.thread.z * this.constants.y + this.thread.y;
  if (r >= this.constants.n) return 0;
  if (r < this.constants.n0) {
    const sa = Math.floor((r + 0.5) / this.constants.ya);
    return a[sa]![r - sa * this.constants.ya]![x]!;
  }
  r = r - this.constants.n0;
  if (r < this.constants.n1) {
    const sb = Math.floor((r + 0.5) / this.constants.yb);
    return b[sb]![r - sb * this.constants.yb]![x]!;
  }
  r = r - this.constants.n1;
  const sc = Math.floor((r + 0.5) / this.constants.yc);
  return c[sc]![r - sc * this.constants.yc]![x]!;
}

/** Up to three shapes concatenated along their leading dimension. */
export function catSpec(shapes: readonly (readonly number[])[], slope: Slope, maxSlabs = Infinity): KernelSpec {
  if (shapes.length < 1 || shapes.length > 3) throw new Error(`cat.gpu: takes 1 to 3 inputs, got ${shapes.length}`);
  const rest = shapes[0]!.slice(1);
  for (const s of shapes) if (!shapeEquals(s.slice(1), rest)) throw new Error(`cat.gpu: ${formatShape(s)} does not match (*, ${rest.join(', ')})`);
  const n = shapes.map((s) => s[0]!);
  const lead = n.reduce((p, q) => p + q, 0);
  const constants = { n0: n[0]!, n1: n[1] ?? 0, ...slopeConstants(slope), o0: 0, o1: 0, o2: 0 };
  if (rest.length === 2) return { name: 'cat.channels', source: catChannelsKernel, output: [rest[1]!, rest[0]!, lead], constants };
  if (rest.length === 1) {
    if (slope !== null) throw new Error('cat.gpu: rows are concatenated without activation');
    const shape = [lead, rest[0]!];
    const output = rowsOutput(shape, maxSlabs);
    const slab = (i: number): number => rowsPerSlab(n[i] ?? ROW_PAIR, maxSlabs); // a missing input is never read
    const rows: CatRowsConstants = { n0: n[0]!, n1: n[1] ?? 0, n: lead, y: output[1]!, ya: slab(0), yb: slab(1), yc: slab(2) };
    return { name: 'cat.rows', source: catRowsKernel, output, constants: rows as unknown as Record<string, number>, shape };
  }
  throw new Error(`cat.gpu: rank ${rest.length + 1} is not supported`);
}

/** One launch of a split channel concatenation: up to three segments (input part, first channel, count). */
export function catSegmentsSpec(h: number, w: number, segments: { off: number; count: number }[], slope: Slope): KernelSpec {
  if (segments.length < 1 || segments.length > 3) throw new Error(`cat.gpu: ${segments.length} segments in one part`);
  const total = segments.reduce((p, s) => p + s.count, 0);
  const constants = {
    n0: segments[0]!.count, n1: segments[1]?.count ?? 0, ...slopeConstants(slope),
    o0: segments[0]!.off, o1: segments[1]?.off ?? 0, o2: segments[2]?.off ?? 0,
  };
  return { name: 'cat.channels', source: catChannelsKernel, output: [w, h, total], constants };
}
