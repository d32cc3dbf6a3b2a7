// Greedy non-maximum suppression exactly as the reference's py_cpu_nms
// (biubug6/Pytorch_Retinaface utils/nms/py_cpu_nms.py), which detect.py calls.
// CPU only: data-dependent control flow over a few thousand boxes (tfjs keeps NMS on the CPU too).
//
// boxes: (N, 4) x1 y1 x2 y2 pixels, scores: (N) -> indices of the kept boxes, best score first.
//
// Quirks kept from the reference: box areas and intersection sides count pixels inclusively
// (`x2 - x1 + 1`), a box is suppressed only when IoU > thresh (kept while IoU <= thresh), and
// everything is float32 arithmetic (dets is cast to np.float32; the Python float threshold is
// compared in float32 under NumPy's value-based casting), reproduced here with Math.fround.

const f = Math.fround;

/**
 * `scores.argsort()[::-1]`: indices by descending score. NumPy's default argsort (introsort) is
 * not stable, so the reference's order among exactly equal scores is unspecified; we use the
 * order a stable argsort gives, reversed (equal scores: higher index first). Ties only matter
 * when two boxes with bit-identical float32 scores overlap.
 */
export function argsortDescending(scores: ArrayLike<number>): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[b]! - scores[a]! || b - a);
  return order;
}

/**
 * Kept indices into `boxes` / `scores`, best first. `maxKeep` stops once that many boxes are
 * kept: exact, since a greedy NMS decides each box from better-scored boxes only, so the first
 * keep_top_k kept boxes do not depend on the rest (detect.py runs it all, then slices).
 */
export function nms(boxes: Float32Array, scores: Float32Array, thresh: number, maxKeep = Infinity): number[] {
  return greedySuppress(boxes, scores, thresh, maxKeep);
}

/**
 * The greedy loop of nms(), telling `suppressedBy(kept, other)` (indices into `boxes`) each time
 * a kept box suppresses another: box voting (merge.ts) averages each kept box with those.
 */
export function greedySuppress(
  boxes: Float32Array, scores: Float32Array, thresh: number, maxKeep = Infinity,
  suppressedBy?: (kept: number, other: number) => void,
): number[] {
  const n = scores.length;
  if (boxes.length !== 4 * n) throw new Error(`nms: ${boxes.length / 4} boxes but ${n} scores`);
  const t = f(thresh);
  // Candidates in score order, coordinates in separate arrays: the O(n^2) loop below then reads
  // memory sequentially.
  const order = argsortDescending(scores);
  const x1 = new Float32Array(n), y1 = new Float32Array(n), x2 = new Float32Array(n), y2 = new Float32Array(n);
  const areas = new Float32Array(n);
  order.forEach((i, k) => {
    x1[k] = boxes[4 * i]!; y1[k] = boxes[4 * i + 1]!; x2[k] = boxes[4 * i + 2]!; y2[k] = boxes[4 * i + 3]!;
    // areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    areas[k] = f(f(f(x2[k]! - x1[k]!) + 1) * f(f(y2[k]! - y1[k]!) + 1));
  });
  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  for (let a = 0; a < n && keep.length < maxKeep; a++) {
    if (suppressed[a]) continue;
    keep.push(order[a]!);
    const ax1 = x1[a]!, ay1 = y1[a]!, ax2 = x2[a]!, ay2 = y2[a]!, aArea = areas[a]!;
    for (let b = a + 1; b < n; b++) {
      if (suppressed[b]) continue;
      // w = np.maximum(0.0, xx2 - xx1 + 1), likewise h; inter = w * h
      const w = Math.max(0, f(f(Math.min(ax2, x2[b]!) - Math.max(ax1, x1[b]!)) + 1));
      if (w === 0) continue; // ovr = 0 <= thresh: kept
      const h = Math.max(0, f(f(Math.min(ay2, y2[b]!) - Math.max(ay1, y1[b]!)) + 1));
      const inter = f(w * h);
      // ovr = inter / (areas[i] + areas[order[1:]] - inter); inds = np.where(ovr <= thresh).
      // A NaN ovr (0 / 0 from degenerate boxes) is not <= thresh: suppressed, as there.
      const ovr = f(inter / f(f(aArea + areas[b]!) - inter));
      if (!(ovr <= t)) {
        suppressed[b] = 1;
        suppressedBy?.(order[a]!, order[b]!);
      }
    }
  }
  return keep;
}
