// Detections of a gpu.js mode against the CPU backend's on the same input tensor: the same
// count, each face paired with the CPU face it overlaps most (IoU >= 0.9), boxes and landmarks
// within `px`, scores within `score`. Pure (no Node built-in): the browser page could use it too.
import { CpuSimdBackend } from '../../src/backends/cpu_simd.js';
import { postprocess, type Face } from '../../src/detect/postprocess.js';
import { type RetinaFace } from '../../src/model/retinaface.js';
import { runNetwork } from '../../src/model/run.js';
import type { Tensor } from '../../src/tensor.js';

/** The bounds for GPU against CPU detections. */
export const GPU_FACES_TOLERANCE = { px: 0.5, score: 1e-3 } as const;

function iou(a: Face['box'], b: Face['box']): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

export interface FacesDiff {
  /** what is wrong, one line each (empty: equal within the bounds) */
  failures: string[];
  maxPx: number;
  maxScore: number;
}

export function compareFaces(got: Face[], want: Face[], tol: { px: number; score: number } = GPU_FACES_TOLERANCE): FacesDiff {
  const failures: string[] = [];
  if (got.length !== want.length) failures.push(`${got.length} faces, expected ${want.length}`);
  const taken = new Set<number>();
  let maxPx = 0, maxScore = 0;
  want.forEach((w, wi) => {
    let best = -1, bestIou = 0.9;
    got.forEach((g, gi) => {
      if (taken.has(gi)) return;
      const v = iou(g.box, w.box);
      if (v >= bestIou) { best = gi; bestIou = v; }
    });
    if (best < 0) { failures.push(`face ${wi} (score ${w.score.toFixed(4)}, box ${w.box.map((v) => v.toFixed(1)).join(',')}) not found`); return; }
    taken.add(best);
    const g = got[best]!;
    const px = Math.max(...w.box.map((v, i) => Math.abs(v - g.box[i]!)), ...w.landmarks.flatMap((p, i) => [Math.abs(p[0] - g.landmarks[i]![0]), Math.abs(p[1] - g.landmarks[i]![1])]));
    const ds = Math.abs(w.score - g.score);
    maxPx = Math.max(maxPx, px);
    maxScore = Math.max(maxScore, ds);
    if (px > tol.px) failures.push(`face ${wi}: coordinates differ by ${px.toFixed(3)} px (bound ${tol.px})`);
    if (ds > tol.score) failures.push(`face ${wi}: score ${g.score} vs ${w.score} (bound ${tol.score})`);
  });
  return { failures, maxPx, maxScore };
}

/** Faces (detect.py's defaults) from the network outputs of a (3, H, W) input. */
export function facesOf(out: { loc: Tensor; conf: Tensor; landms: Tensor }, input: Tensor): Face[] {
  return postprocess(out.loc, out.conf, out.landms, { height: input.shape[1]!, width: input.shape[2]! });
}

/** The default CPU backend's faces (cpu-simd: proven against PyTorch's detections in test/detect_parity.test.ts). */
export async function cpuFaces(model: RetinaFace, input: Tensor): Promise<Face[]> {
  const cpu = new CpuSimdBackend({ threads: 2 });
  await cpu.prepare(model);
  try {
    return facesOf(await runNetwork(cpu, model, input), input);
  } finally {
    cpu.dispose();
  }
}
