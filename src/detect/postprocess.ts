// From the network's head outputs to faces, in the order of the reference's detect.py
// (biubug6/Pytorch_Retinaface detect.py, after `loc, conf, landms = net(img)`):
//   decode boxes and landmarks -> keep scores > confidence_threshold -> sort by score, keep top_k
//   -> py_cpu_nms(nms_threshold) -> keep the first keep_top_k.
// CPU only: a filter, a sort and a greedy NMS, all data-dependent.
//
// loc: (A, 4), conf: (A, 2) softmaxed, landms: (A, 10), A = priorCount(height, width)
//   -> Face[] best score first, in original-image pixels.
import { RetinaFaceError } from '../errors.js';
import { formatShape, type Tensor } from '../tensor.js';
import { decodeBoxes, decodeLandmarks } from './decode.js';
import { argsortDescending, nms } from './nms.js';
import { DEFAULT_PRIOR_CONFIG, priorBoxes, priorCount, type PriorConfig } from './priors.js';

export type Point = [x: number, y: number];

/**
 * One detection. Coordinates are pixels of the original image, continuous (pixel i covers
 * [i, i + 1)), not clipped to the image: the reference neither clips nor rounds them.
 *
 * `landmarks` come in the order of the RetinaFace WIDER FACE annotations the model was trained
 * on: left eye, right eye, nose tip, left mouth corner, right mouth corner, where "left" is the
 * IMAGE's left (smaller x), i.e. the subject's right eye for a face looking at the camera. The
 * reference's training augmentation keeps that convention under mirroring
 * (data/data_augment.py `_mirror` swaps points 0<->1 and 3<->4 after flipping x).
 */
export interface Face {
  score: number;
  box: [x1: number, y1: number, x2: number, y2: number];
  landmarks: [Point, Point, Point, Point, Point];
}

export interface DetectOptions {
  /** detect.py --confidence_threshold: anchors with score <= this are dropped before NMS. */
  confidenceThreshold: number;
  /** detect.py --top_k: at most this many anchors enter NMS. */
  topK: number;
  /** detect.py --nms_threshold: a box is suppressed by a better one when IoU > this. */
  nmsThreshold: number;
  /** detect.py --keep_top_k: at most this many faces are returned. */
  keepTopK: number;
  /** detect.py --vis_thres: only faces with score >= this are drawn (the CLI may also filter by it). */
  visThreshold: number;
  /**
   * Network-input pixels -> original pixels, multiplied into every coordinate after NMS:
   * R for `--rescale R` (the network saw the image downscaled by R), or [sx, sy] when the two
   * axes were scaled by different factors (integer output sizes). 1 when the network saw the
   * original image. NMS runs in network-input pixels, as ailia's retinaface.py with --rescale
   * does (its `+ 1` pixel convention is not scale-invariant).
   */
  scale: number | readonly [number, number];
}

/** detect.py's argparse defaults (and ailia-models retinaface.py's constants). */
export const DEFAULT_DETECT_OPTIONS: Readonly<DetectOptions> = Object.freeze({
  confidenceThreshold: 0.02,
  topK: 5000,
  nmsThreshold: 0.4,
  keepTopK: 750,
  visThreshold: 0.6,
  scale: 1,
});

function optionError(name: string, value: unknown, expected: string): RetinaFaceError {
  return new RetinaFaceError(`invalid option ${name}: ${String(value)} (expected ${expected})`, { code: 'EOPTION' });
}

function checkUnit(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw optionError(name, v, 'a number in [0, 1]');
  return v;
}

function checkCount(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw optionError(name, v, 'an integer >= 1');
  return v;
}

function checkScale(v: unknown): [number, number] {
  const ok = (s: unknown): s is number => typeof s === 'number' && Number.isFinite(s) && s > 0;
  if (ok(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
  throw optionError('scale', Array.isArray(v) ? `[${v.join(', ')}]` : v, 'a finite number > 0 or [sx, sy]');
}

/** Fills defaults and validates; every error is a RetinaFaceError naming the option. */
export function resolveDetectOptions(opts: Partial<DetectOptions> = {}): DetectOptions {
  const o = { ...DEFAULT_DETECT_OPTIONS, ...opts };
  for (const k of Object.keys(opts)) {
    if (!(k in DEFAULT_DETECT_OPTIONS)) throw new RetinaFaceError(`unknown option ${k}`, { code: 'EOPTION' });
  }
  const scale = checkScale(o.scale);
  return {
    confidenceThreshold: checkUnit('confidenceThreshold', o.confidenceThreshold),
    topK: checkCount('topK', o.topK),
    nmsThreshold: checkUnit('nmsThreshold', o.nmsThreshold),
    keepTopK: checkCount('keepTopK', o.keepTopK),
    visThreshold: checkUnit('visThreshold', o.visThreshold),
    scale: scale[0] === scale[1] ? scale[0] : scale,
  };
}

/**
 * One run's candidates before suppression, in network-input pixels, best score first: the anchors
 * scoring above the threshold (at most topK), decoded. Multi-scale testing pools several runs'
 * (src/detect/merge.ts); postprocess() suppresses one run's.
 */
export interface Proposals {
  /** (n, 4) x1 y1 x2 y2 */
  boxes: Float32Array;
  /** (n, 10) five (x, y) points */
  landmarks: Float32Array;
  /** (n) */
  scores: Float32Array;
  /** (n) the anchor of each candidate (its row of loc, conf, landms and priorBoxes): one run's, absent once runs are pooled */
  anchors?: Int32Array;
}

/**
 * `size` is the network input's height and width (the image the anchors are laid over).
 * Float32 comparisons as in NumPy: `scores > confidence_threshold` compares float32 scores with
 * the threshold rounded to float32.
 */
export function proposals(
  loc: Tensor,
  conf: Tensor,
  landms: Tensor,
  size: { height: number; width: number },
  o: Pick<DetectOptions, 'confidenceThreshold' | 'topK'>,
  cfg: PriorConfig = DEFAULT_PRIOR_CONFIG,
): Proposals {
  const anchors = priorCount(size.height, size.width, cfg);
  const expect = (name: string, t: Tensor, cols: number): void => {
    if (t.shape.length !== 2 || t.shape[0] !== anchors || t.shape[1] !== cols) {
      throw new Error(`postprocess: ${name} is ${formatShape(t.shape)}, expected (${anchors}, ${cols}) ` +
        `for a ${size.width}x${size.height} input`);
    }
  };
  expect('loc', loc, 4);
  expect('conf', conf, 2);
  expect('landms', landms, 10);

  // inds = np.where(scores > confidence_threshold)[0], scores = conf[:, 1]
  const threshold = Math.fround(o.confidenceThreshold);
  const inds: number[] = [];
  for (let a = 0; a < anchors; a++) if (conf.data[2 * a + 1]! > threshold) inds.push(a);

  // order = scores.argsort()[::-1][:top_k]
  const order = argsortDescending(inds.map((a) => conf.data[2 * a + 1]!)).slice(0, o.topK).map((k) => inds[k]!);

  // detect.py decodes every anchor, then selects; decoding only the selected rows gives the same
  // numbers (each row is independent) for a fraction of the work.
  const priors = priorBoxes(size.height, size.width, cfg);
  const n = order.length;
  const candPriors = new Float32Array(n * 4), candLoc = new Float32Array(n * 4), candLandms = new Float32Array(n * 10);
  const scores = new Float32Array(n);
  order.forEach((a, k) => {
    candPriors.set(priors.subarray(4 * a, 4 * a + 4), 4 * k);
    candLoc.set(loc.data.subarray(4 * a, 4 * a + 4), 4 * k);
    candLandms.set(landms.data.subarray(10 * a, 10 * a + 10), 10 * k);
    scores[k] = conf.data[2 * a + 1]!;
  });
  const boxes = decodeBoxes({ shape: [n, 4], data: candLoc }, candPriors, size, cfg.variance);
  const landmarks = decodeLandmarks({ shape: [n, 10], data: candLandms }, candPriors, size, cfg.variance);
  return { boxes, landmarks, scores, anchors: Int32Array.from(order) };
}

/** The faces of one run: proposals(), then suppress(). */
export function postprocess(
  loc: Tensor,
  conf: Tensor,
  landms: Tensor,
  size: { height: number; width: number },
  opts: Partial<DetectOptions> = {},
  cfg: PriorConfig = DEFAULT_PRIOR_CONFIG,
): Face[] {
  const o = resolveDetectOptions(opts);
  return suppress(proposals(loc, conf, landms, size, o, cfg), o);
}

/** One run's proposals to faces: py_cpu_nms in network pixels, the first keepTopK, then the scale to original pixels. */
export function suppress(p: Proposals, o: DetectOptions): Face[] {
  const { boxes, landmarks: points, scores } = p;
  // keep = py_cpu_nms(dets, nms_threshold); dets = dets[keep][:keep_top_k]
  const keep = nms(boxes, scores, o.nmsThreshold, o.keepTopK);
  const [sx, sy] = typeof o.scale === 'number' ? [o.scale, o.scale] : o.scale;
  return keep.map((k): Face => {
    const p = (i: number): Point => [points[10 * k + 2 * i]! * sx, points[10 * k + 2 * i + 1]! * sy];
    return {
      score: scores[k]!,
      box: [boxes[4 * k]! * sx, boxes[4 * k + 1]! * sy, boxes[4 * k + 2]! * sx, boxes[4 * k + 3]! * sy],
      landmarks: [p(0), p(1), p(2), p(3), p(4)],
    };
  });
}
