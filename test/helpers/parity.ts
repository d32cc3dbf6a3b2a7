// End-to-end parity with the PyTorch pipeline (test/torch/detect_ref.py): the same PNG on both
// sides, our faces against its faces. Everything generated (PNGs, PyTorch's detections) goes
// under the git-ignored .cache/parity/, keyed by the hashes of what determines it.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Face } from '../../src/detect/postprocess.js';
import { decodeImage } from '../../src/image/decode.js';
import { encodeImage } from '../../src/image/encode.js';
import type { RgbImage } from '../../src/image/image.js';
import type { Crop } from './inputs.js';
import type { Arch } from './reference.js';
import { cacheDir, repoRoot, runTorchPython, sharedImage } from './paths.js';

const TORCH_DIR = path.join(repoRoot, 'test', 'torch');
/** detect_ref.py and the two files it imports: a change to any of them invalidates the cache. */
const SCRIPTS = ['detect_ref.py', 'reference.py', 'postprocess_ref.py'].map((f) => path.join(TORCH_DIR, f));

function sha256(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const bytes = typeof p === 'string' ? Buffer.from(p) : p;
    const len = Buffer.alloc(8); // length-prefixed: no two part lists hash the same bytes
    len.writeBigUInt64LE(BigInt(bytes.length));
    h.update(len).update(bytes);
  }
  return h.digest('hex');
}

/** Writes through a temporary name, so that an interrupted run leaves no half file under the final one. */
function writeAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

export function cropImage(img: RgbImage, c: Crop): RgbImage {
  if (!(c.x >= 0 && c.y >= 0 && c.width > 0 && c.height > 0 && c.x + c.width <= img.width && c.y + c.height <= img.height)) {
    throw new Error(`crop ${JSON.stringify(c)} is not inside the ${img.width}x${img.height} image`);
  }
  const data = new Uint8Array(c.width * c.height * 3);
  for (let y = 0; y < c.height; y++) {
    const from = ((c.y + y) * img.width + c.x) * 3;
    data.set(img.data.subarray(from, from + c.width * 3), y * c.width * 3);
  }
  return { width: c.width, height: c.height, data };
}

/**
 * A PNG of a photo in ../shared/images as jpeg-js decodes it (optionally cropped), in
 * .cache/parity/images/: both pipelines then read the same pixels, whatever their JPEG decoders.
 */
export function parityPng(image: string, crop?: Crop): string {
  const jpeg = readFileSync(sharedImage(image));
  const key = sha256(jpeg, JSON.stringify(crop ?? null)).slice(0, 12);
  const stem = path.basename(image, path.extname(image)) + (crop ? `-${crop.width}x${crop.height}` : '');
  const file = path.join(cacheDir('parity', 'images'), `${stem}-${key}.png`);
  if (!existsSync(file)) {
    const full = decodeImage(jpeg, image);
    writeAtomic(file, encodeImage(crop ? cropImage(full, crop) : full, 'png'));
  }
  return file;
}

/** What detect_ref.py writes. */
export interface TorchDetections {
  arch: Arch;
  height: number;
  width: number;
  options: { confidence_threshold: number; top_k: number; nms_threshold: number; keep_top_k: number };
  /** number of anchors, and of anchors whose score passed the confidence filter */
  anchors: number;
  above_threshold: number;
  /** the lowest score that entered NMS (the top_k-th when more passed the filter), null if none */
  top_k_score: number | null;
  faces: Face[];
}

// weights files (100 MB for ResNet-50) are hashed once per process and (path, size, mtime)
const fileHashes = new Map<string, string>();
function fileHash(file: string): string {
  const st = statSync(file);
  const id = `${path.resolve(file)}\0${st.size}\0${st.mtimeMs}`;
  let h = fileHashes.get(id);
  if (h === undefined) {
    h = sha256(readFileSync(file));
    fileHashes.set(id, h);
  }
  return h;
}

/**
 * detect_ref.py's faces for `image` (a PNG or JPEG file), run with the reference's defaults.
 * Cached as .cache/parity/<arch>-<image stem>-<key>.json, key = sha256 of the three scripts, the
 * arch, the weights file and the image file.
 */
export function torchDetections(arch: Arch, weights: string, image: string): TorchDetections {
  const key = sha256(...SCRIPTS.map((f) => readFileSync(f)), arch, fileHash(weights), readFileSync(image)).slice(0, 16);
  const out = path.join(cacheDir('parity'), `${arch}-${path.basename(image, path.extname(image))}-${key}.json`);
  if (!existsSync(out)) runTorchPython(SCRIPTS[0]!, ['--arch', arch, '--weights', weights, '--image', image, '--out', out]);
  const raw = JSON.parse(readFileSync(out, 'utf8')) as Omit<TorchDetections, 'faces'> & { dets: number[][] };
  const { dets, ...rest } = raw;
  const faces = dets.map((r): Face => ({
    score: r[4]!,
    box: [r[0]!, r[1]!, r[2]!, r[3]!],
    landmarks: [[r[5]!, r[6]!], [r[7]!, r[8]!], [r[9]!, r[10]!], [r[11]!, r[12]!], [r[13]!, r[14]!]],
  }));
  return { ...rest, faces };
}

// ------------------------------------------------------------------------------- comparison

/**
 * IoU of the reference's NMS (py_cpu_nms), areas with the inclusive-pixel +1: the quantity whose
 * comparison with nms_threshold decides a face's fate.
 */
export function nmsIou(a: Face['box'], b: Face['box']): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]) + 1);
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]) + 1);
  const inter = w * h;
  const area = (f: Face['box']) => (f[2] - f[0] + 1) * (f[3] - f[1] + 1);
  return inter / (area(a) + area(b) - inter);
}

export interface ParityTolerance {
  /** max |coordinate difference| of matched boxes and landmarks, pixels */
  px: number;
  /** max |score difference| of matched faces; also how close to a cut-off score a face may be and still be missing on one side */
  score: number;
  /** how close to nms_threshold an IoU may be and still decide differently on the two sides */
  iou: number;
  /** two faces are the same face when their IoU is at least this */
  matchIou: number;
}

/**
 * Detections against PyTorch's pipeline (and any two CPU backends'), the first wave's bounds. Pixels: the box and landmark coordinates are the head outputs times
 * ~0.1-0.2 prior widths (tens of pixels) plus exact prior centres, so the ~1e-5 relative float32
 * difference of the two forwards gives ~1e-3 px; 0.05 px is far under anything visible. Score:
 * a softmax of logits that differ by ~1e-5.
 */
export const DETECTION_PARITY: ParityTolerance = {
  px: 0.05,
  score: 1e-4,
  /** the IoU of two boxes >= 8 px wide moves by < 1e-3 when their corners move by 1e-3 px */
  iou: 1e-3,
  /** the same face on both sides has IoU > 0.99 at 0.05 px; two kept faces have IoU <= nms_threshold (0.4) */
  matchIou: 0.9,
};

export interface Unmatched {
  side: 'ours' | 'torch';
  index: number;
  face: Face;
  /** why it may be missing on the other side, or undefined: a real disagreement */
  reason?: string;
}

export interface ParityReport {
  /** the score under which lists may differ: max(confidence_threshold, top_k cut, keep_top_k cut) */
  floor: number;
  pairs: [ours: number, torch: number][];
  unmatched: Unmatched[];
  /** worst differences over the matched faces */
  worstBox: number;
  worstLandmark: number;
  worstScore: number;
  /** where they occur: [ours index, torch index] */
  worstBoxAt: [number, number] | null;
  worstLandmarkAt: [number, number] | null;
  worstScoreAt: [number, number] | null;
}

/**
 * Matches our faces to PyTorch's and measures the differences.
 *
 * Which faces must appear on both sides. Greedy NMS decides a face's fate from the faces above it
 * only, so two pipelines whose numbers agree to within the tolerances return the same faces except
 * where a decision sits on a knife edge, and each such edge is visible:
 *   1. a cut-off score: anchors pass `score > confidence_threshold`, only the top_k best enter
 *      NMS, only the keep_top_k best faces are returned. A face within `tol.score` of the highest
 *      of these cut-offs (`floor`) may be on one side only; the detect_ref.py run on the group
 *      photo has an anchor at 0.020005, 5e-6 over the threshold, so this is not hypothetical;
 *   2. an NMS decision: IoU with a face above it within `tol.iou` of nms_threshold;
 *   3. the cascade of 2: a face that overlaps (IoU > nms_threshold - tol.iou) a face above it
 *      that is itself on one side only (it was suppressed on one side and not on the other).
 * Every other face must be matched (IoU >= tol.matchIou, greedy in PyTorch's score order); a face
 * missing on one side with none of these reasons is a real disagreement.
 */
export function compareDetections(ours: Face[], torch: TorchDetections, tol: ParityTolerance): ParityReport {
  const o = torch.options;
  const cuts = [o.confidence_threshold];
  if (torch.above_threshold > o.top_k && torch.top_k_score !== null) cuts.push(torch.top_k_score);
  for (const list of [ours, torch.faces]) if (list.length >= o.keep_top_k) cuts.push(list[list.length - 1]!.score);
  const floor = Math.max(...cuts);

  const taken = new Set<number>();
  const pairs: [number, number][] = [];
  const torchMatched = new Set<number>();
  torch.faces.forEach((t, ti) => {
    let best = -1, bestIou = tol.matchIou;
    ours.forEach((f, oi) => {
      if (taken.has(oi)) return;
      const iou = nmsIou(f.box, t.box);
      if (iou >= bestIou) { best = oi; bestIou = iou; }
    });
    if (best >= 0) {
      taken.add(best);
      torchMatched.add(ti);
      pairs.push([best, ti]);
    }
  });

  // faces on one side only, best first, so that the cascade rule sees the faces above each one
  const unmatched: Unmatched[] = [
    ...ours.flatMap((face, index) => (taken.has(index) ? [] : [{ side: 'ours' as const, index, face }])),
    ...torch.faces.flatMap((face, index) => (torchMatched.has(index) ? [] : [{ side: 'torch' as const, index, face }])),
  ].sort((a, b) => b.face.score - a.face.score);
  const all = [...ours, ...torch.faces];
  for (const u of unmatched) {
    if (u.face.score <= floor + tol.score) {
      u.reason = `score ${u.face.score} within ${tol.score} of the cut-off ${floor}`;
      continue;
    }
    const above = all.filter((f) => f.score > u.face.score - tol.score && f !== u.face);
    const edge = above.map((f) => nmsIou(f.box, u.face.box)).find((iou) => Math.abs(iou - o.nms_threshold) <= tol.iou);
    if (edge !== undefined) {
      u.reason = `NMS tie: IoU ${edge} with a better face`;
      continue;
    }
    const cause = unmatched.find((v) => v !== u && v.reason !== undefined && v.face.score > u.face.score - tol.score &&
      nmsIou(v.face.box, u.face.box) > o.nms_threshold - tol.iou);
    if (cause !== undefined) u.reason = `cascade: overlaps ${cause.side} #${cause.index}, itself on one side only`;
  }

  const r: ParityReport = {
    floor, pairs, unmatched,
    worstBox: 0, worstLandmark: 0, worstScore: 0, worstBoxAt: null, worstLandmarkAt: null, worstScoreAt: null,
  };
  for (const [oi, ti] of pairs) {
    const a = ours[oi]!, b = torch.faces[ti]!;
    const box = Math.max(...a.box.map((v, i) => Math.abs(v - b.box[i]!)));
    const lm = Math.max(...a.landmarks.flatMap((p, i) => [Math.abs(p[0] - b.landmarks[i]![0]), Math.abs(p[1] - b.landmarks[i]![1])]));
    const score = Math.abs(a.score - b.score);
    if (box >= r.worstBox) { r.worstBox = box; r.worstBoxAt = [oi, ti]; }
    if (lm >= r.worstLandmark) { r.worstLandmark = lm; r.worstLandmarkAt = [oi, ti]; }
    if (score >= r.worstScore) { r.worstScore = score; r.worstScoreAt = [oi, ti]; }
  }
  return r;
}

/** One line for the log: counts, the floor, the worst differences and where. */
export function describeParity(label: string, ours: Face[], torch: TorchDetections, r: ParityReport): string {
  const at = (p: [number, number] | null) => (p ? ` (ours #${p[0]}, torch #${p[1]})` : '');
  const tolerated = r.unmatched.filter((u) => u.reason !== undefined).length;
  return `${label}: ${ours.length} faces ours, ${torch.faces.length} torch (${torch.above_threshold} anchors > ` +
    `${torch.options.confidence_threshold}), ${r.pairs.length} matched, ${r.unmatched.length} on one side only ` +
    `(${tolerated} at a knife edge, floor ${r.floor}); worst |box| ${r.worstBox.toExponential(2)} px${at(r.worstBoxAt)}, ` +
    `|landmark| ${r.worstLandmark.toExponential(2)} px${at(r.worstLandmarkAt)}, |score| ${r.worstScore.toExponential(2)}${at(r.worstScoreAt)}`;
}
