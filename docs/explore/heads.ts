// The heads view's arithmetic: where an anchor sits (level, cell, min size), and one face's path
// from its anchor to the kept box, step by step with the reference's formulas (decode in
// src/detect/decode.ts, in float32 as there): prior -> centre and size -> box, landmarks alike.
import { DEFAULT_PRIOR_CONFIG, priorBoxes } from '../../src/detect/priors.js';
import type { Tensor } from '../../src/tensor.js';

export interface AnchorPlace {
  /** 0, 1, 2: the level (ssh1, ssh2, ssh3) */
  level: number;
  step: number;
  row: number;
  col: number;
  /** which of the cell's min sizes */
  which: number;
  minSize: number;
  /** the level's map (rows x columns) */
  rows: number;
  cols: number;
}

/** The level, cell and min size of anchor `index` (a row of loc/conf/landms) for a height x width input. */
export function anchorPlace(index: number, height: number, width: number): AnchorPlace {
  const cfg = DEFAULT_PRIOR_CONFIG;
  let i = index;
  for (let level = 0; level < cfg.steps.length; level++) {
    const step = cfg.steps[level]!, sizes = cfg.minSizes[level]!;
    const rows = Math.ceil(height / step), cols = Math.ceil(width / step);
    const n = rows * cols * sizes.length;
    if (i < n) {
      const cell = Math.floor(i / sizes.length), which = i % sizes.length;
      return { level, step, row: Math.floor(cell / cols), col: cell % cols, which, minSize: sizes[which]!, rows, cols };
    }
    i -= n;
  }
  throw new Error(`explorer: anchor ${index} is past the ${height}x${width} input's anchors`);
}

const f = Math.fround;

export interface DecodeSteps {
  anchor: number;
  place: AnchorPlace;
  /** the prior as the reference stores it (normalised cx, cy, w, h) and in pixels */
  prior: number[];
  priorPx: number[];
  loc: number[];
  /** conf after the network's softmax: background, face */
  conf: number[];
  landms: number[];
  /** centre and size in pixels after decode: cx, cy, w, h */
  centrePx: number[];
  box: number[];
  landmarks: number[];
}

/** One anchor's raw outputs and their decode (variances 0.1, 0.2), in the input's pixels. */
export function decodeSteps(raw: { loc: Tensor; conf: Tensor; landms: Tensor }, anchor: number, height: number, width: number): DecodeSteps {
  const [v0, v1] = DEFAULT_PRIOR_CONFIG.variance.map(f) as [number, number];
  const pr = [...priorBoxes(height, width).subarray(4 * anchor, 4 * anchor + 4)];
  const [pcx, pcy, pw, ph] = pr as [number, number, number, number];
  const loc = [...raw.loc.data.subarray(4 * anchor, 4 * anchor + 4)];
  const conf = [...raw.conf.data.subarray(2 * anchor, 2 * anchor + 2)];
  const landms = [...raw.landms.data.subarray(10 * anchor, 10 * anchor + 10)];
  const W = f(width), H = f(height);
  const cx = f(pcx + f(f(loc[0]! * v0) * pw)), cy = f(pcy + f(f(loc[1]! * v0) * ph));
  const w = f(pw * f(Math.exp(f(loc[2]! * v1)))), h = f(ph * f(Math.exp(f(loc[3]! * v1))));
  const x1 = f(cx - f(w / 2)), y1 = f(cy - f(h / 2));
  const box = [f(x1 * W), f(y1 * H), f(f(w + x1) * W), f(f(h + y1) * H)];
  const landmarks: number[] = [];
  for (let p = 0; p < 5; p++) {
    landmarks.push(f(f(pcx + f(f(landms[2 * p]! * v0) * pw)) * W), f(f(pcy + f(f(landms[2 * p + 1]! * v0) * ph)) * H));
  }
  return {
    anchor, place: anchorPlace(anchor, height, width), prior: pr, priorPx: [pcx * width, pcy * height, pw * width, ph * height],
    loc, conf, landms, centrePx: [cx * width, cy * height, w * width, h * height], box, landmarks,
  };
}

/** Intersection over union of two x1 y1 x2 y2 boxes, with the reference's + 1 (py_cpu_nms). */
export function iou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const w = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!) + 1);
  const h = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!) + 1);
  const inter = w * h;
  const area = (x: ArrayLike<number>) => (x[2]! - x[0]! + 1) * (x[3]! - x[1]! + 1);
  return inter / (area(a) + area(b) - inter);
}

/**
 * Greedy NMS replayed over the proposals (best first, as proposals() orders them) to say which
 * kept box suppressed each candidate: counts[k] = how many candidates candidate k suppressed.
 */
export function suppressionCounts(boxes: Float32Array, count: number, thresh: number): Int32Array {
  const counts = new Int32Array(count);
  const gone = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    if (gone[i] === 1) continue;
    const a = boxes.subarray(4 * i, 4 * i + 4);
    for (let j = i + 1; j < count; j++) {
      if (gone[j] === 0 && iou(a, boxes.subarray(4 * j, 4 * j + 4)) > thresh) {
        gone[j] = 1;
        counts[i]!++;
      }
    }
  }
  return counts;
}

/** The colours of the levels (stride 8, 16, 32) in the heads view. */
export const LEVEL_COLOURS = ['#e8710a', '#1a73e8', '#d01884'];

/**
 * A level's anchors over the photo (already drawn in `ctx`, 1 canvas px = 1 input px): each
 * cell's centre as a dot, and at `cell` (or the image centre) the anchor squares of its min sizes.
 */
export function drawLevel(ctx: CanvasRenderingContext2D, level: number, height: number, width: number, cell?: { row: number; col: number }): void {
  const step = DEFAULT_PRIOR_CONFIG.steps[level]!, sizes = DEFAULT_PRIOR_CONFIG.minSizes[level]!;
  const rows = Math.ceil(height / step), cols = Math.ceil(width / step);
  ctx.fillStyle = LEVEL_COLOURS[level]!;
  const dot = Math.max(1, step / 8);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) ctx.fillRect((c + 0.5) * step - dot / 2, (r + 0.5) * step - dot / 2, dot, dot);
  const at = cell ?? { row: Math.floor(rows / 2), col: Math.floor(cols / 2) };
  ctx.strokeStyle = LEVEL_COLOURS[level]!;
  ctx.lineWidth = Math.max(1.5, width / 600);
  const cx = (at.col + 0.5) * step, cy = (at.row + 0.5) * step;
  for (const s of sizes) ctx.strokeRect(cx - s / 2, cy - s / 2, s, s);
}
