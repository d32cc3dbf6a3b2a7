// Merging several runs of the network over one image (multi-scale and flip testing, Deng et al.
// 2019 section 4; src/detect/multiscale.ts runs them): each run's proposals are mapped to
// original-image pixels, pooled, and suppressed once, by
//  - 'nms': the reference's py_cpu_nms over the pool (the best box of each cluster stays as is);
//  - 'vote': box voting, as the paper's test protocol: each kept box is replaced by the
//    score-weighted mean of itself and the boxes it suppresses (landmarks likewise), keeping its
//    own score, the cluster's best.
// Suppression is the same float32 greedy loop either way (nms.ts: IoU with the `+ 1` pixel
// areas, suppressed when IoU > nmsThreshold), now in original pixels.
import type { Face, Point, Proposals } from './postprocess.js';
import { greedySuppress } from './nms.js';

export const MERGE_MODES = ['nms', 'vote'] as const;
export type MergeMode = (typeof MERGE_MODES)[number];

/**
 * One run's proposals in original-image pixels: network pixel (x, y) -> (x * sx, y * sy), after
 * un-mirroring when the run saw the image flipped left-right (`mirroredWidth`: the network
 * input's width W; x -> W - x, a box's x1 and x2 exchanged, and the landmark pairs swapped back
 * to image-left first: eyes 0 <-> 1, mouth corners 3 <-> 4, as the reference's _mirror does).
 */
export function toOriginal(p: Proposals, sx: number, sy: number, mirroredWidth?: number): Proposals {
  const n = p.scores.length;
  const boxes = new Float32Array(4 * n), landmarks = new Float32Array(10 * n);
  const W = mirroredWidth;
  for (let k = 0; k < n; k++) {
    const b = p.boxes.subarray(4 * k, 4 * k + 4);
    const [x1, x2] = W === undefined ? [b[0]!, b[2]!] : [W - b[2]!, W - b[0]!];
    boxes[4 * k] = x1 * sx;
    boxes[4 * k + 1] = b[1]! * sy;
    boxes[4 * k + 2] = x2 * sx;
    boxes[4 * k + 3] = b[3]! * sy;
    for (let i = 0; i < 5; i++) {
      const from = W === undefined ? i : MIRROR_POINT[i]!;
      const x = p.landmarks[10 * k + 2 * from]!, y = p.landmarks[10 * k + 2 * from + 1]!;
      landmarks[10 * k + 2 * i] = (W === undefined ? x : W - x) * sx;
      landmarks[10 * k + 2 * i + 1] = y * sy;
    }
  }
  return { boxes, landmarks, scores: p.scores.slice() };
}

/** Which point of a mirrored face becomes point i: left eye <-> right eye, left <-> right mouth corner. */
const MIRROR_POINT = [1, 0, 2, 4, 3] as const;

/** The runs' proposals in one pool (order kept: run by run). */
export function poolProposals(runs: readonly Proposals[]): Proposals {
  const n = runs.reduce((s, r) => s + r.scores.length, 0);
  const out: Proposals = { boxes: new Float32Array(4 * n), landmarks: new Float32Array(10 * n), scores: new Float32Array(n) };
  let k = 0;
  for (const r of runs) {
    out.boxes.set(r.boxes, 4 * k);
    out.landmarks.set(r.landmarks, 10 * k);
    out.scores.set(r.scores, k);
    k += r.scores.length;
  }
  return out;
}

/** The pooled proposals suppressed to faces, best first, at most keepTopK. */
export function mergeProposals(p: Proposals, o: { nmsThreshold: number; keepTopK: number; merge: MergeMode }): Face[] {
  const members = o.merge === 'vote' ? new Map<number, number[]>() : undefined;
  const keep = greedySuppress(p.boxes, p.scores, o.nmsThreshold, o.keepTopK, members === undefined ? undefined : (kept, other) => {
    const list = members.get(kept);
    if (list === undefined) members.set(kept, [other]);
    else list.push(other);
  });
  return keep.map((k): Face => {
    const cluster = [k, ...(members?.get(k) ?? [])];
    // the score-weighted mean (float64) of the cluster's boxes and points; a lone box is itself
    let wsum = 0;
    const box = new Float64Array(4), pts = new Float64Array(10);
    for (const m of cluster) {
      const w = p.scores[m]!;
      wsum += w;
      for (let i = 0; i < 4; i++) box[i] = box[i]! + w * p.boxes[4 * m + i]!;
      for (let i = 0; i < 10; i++) pts[i] = pts[i]! + w * p.landmarks[10 * m + i]!;
    }
    const mean = (v: number, own: number) => (cluster.length === 1 ? own : v / wsum);
    const pt = (i: number): Point => [mean(pts[2 * i]!, p.landmarks[10 * k + 2 * i]!), mean(pts[2 * i + 1]!, p.landmarks[10 * k + 2 * i + 1]!)];
    return {
      score: p.scores[k]!,
      box: [mean(box[0]!, p.boxes[4 * k]!), mean(box[1]!, p.boxes[4 * k + 1]!), mean(box[2]!, p.boxes[4 * k + 2]!), mean(box[3]!, p.boxes[4 * k + 3]!)],
      landmarks: [pt(0), pt(1), pt(2), pt(3), pt(4)],
    };
  });
}
