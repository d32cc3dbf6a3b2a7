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

export function nms(boxes: Float32Array, scores: Float32Array, thresh: number): number[] {
  const n = scores.length;
  if (boxes.length !== 4 * n) throw new Error(`nms: ${boxes.length / 4} boxes but ${n} scores`);
  const t = f(thresh);
  const areas = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    areas[i] = f(f(f(boxes[4 * i + 2]! - boxes[4 * i]!) + 1) * f(f(boxes[4 * i + 3]! - boxes[4 * i + 1]!) + 1));
  }
  const order = argsortDescending(scores);
  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  for (let oi = 0; oi < n; oi++) {
    const i = order[oi]!;
    if (suppressed[i]) continue;
    keep.push(i);
    const x1 = boxes[4 * i]!, y1 = boxes[4 * i + 1]!, x2 = boxes[4 * i + 2]!, y2 = boxes[4 * i + 3]!;
    for (let oj = oi + 1; oj < n; oj++) {
      const j = order[oj]!;
      if (suppressed[j]) continue;
      const xx1 = Math.max(x1, boxes[4 * j]!);
      const yy1 = Math.max(y1, boxes[4 * j + 1]!);
      const xx2 = Math.min(x2, boxes[4 * j + 2]!);
      const yy2 = Math.min(y2, boxes[4 * j + 3]!);
      const w = Math.max(0, f(f(xx2 - xx1) + 1));
      const h = Math.max(0, f(f(yy2 - yy1) + 1));
      const inter = f(w * h);
      const ovr = f(inter / f(f(areas[i]! + areas[j]!) - inter));
      // inds = np.where(ovr <= thresh): NaN (0/0 from degenerate boxes) is suppressed, as there
      if (!(ovr <= t)) suppressed[j] = 1;
    }
  }
  return keep;
}
