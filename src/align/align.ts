// Aligned face crops, as recognition models (ArcFace) want them: the similarity that maps the
// face's five landmarks onto a template (src/align/similarity.ts, Umeyama as skimage), then the
// crop warped through it (src/align/warp.ts, cv2.warpAffine INTER_LINEAR, constant border).
// insightface's norm_crop does the same two steps with skimage and OpenCV.
//
//   const faces = await detector.detect(image);
//   const crops = alignFaces(rgb, faces);            // 112x112 ArcFace crops, RGB
//
// Pure (no Node built-in): Node and browser builds both export it.
import type { Face, Point } from '../detect/postprocess.js';
import { RetinaFaceError } from '../errors.js';
import type { RgbImage } from '../image/image.js';
import { estimateSimilarity, type Matrix2x3 } from './similarity.js';
import { warpAffine, type BorderValue } from './warp.js';

/**
 * insightface's five-point template for ArcFace's 112x112 input (arcface_dst in
 * insightface/utils/face_align.py): left eye, right eye, nose tip, left and right mouth corners,
 * in the order RetinaFace's landmarks come (image left first).
 */
export const ARCFACE_TEMPLATE: readonly Point[] = Object.freeze([
  [38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041],
] as Point[]);

export interface AlignOptions {
  /** the crop's side in pixels (default 112) */
  size?: number;
  /** 'arcface' (default: ARCFACE_TEMPLATE scaled by size / 112) or five points in crop pixels */
  template?: 'arcface' | readonly Point[];
  /** what lies outside the image: a level 0..255 or [r, g, b] (default 0, black) */
  borderValue?: BorderValue;
}

export interface AlignedFace extends RgbImage {
  /** the 2x3 image -> crop transform: crop = matrix * [x, y, 1] */
  matrix: Matrix2x3;
}

export const DEFAULT_ALIGN_SIZE = 112;

/** The template's five points for a crop of `size` pixels. */
export function alignTemplate(opts: AlignOptions = {}): Point[] {
  const size = opts.size ?? DEFAULT_ALIGN_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > 4096) {
    throw new RetinaFaceError(`invalid option size: ${String(size)} (expected an integer 1..4096)`, { code: 'EOPTION' });
  }
  const t = opts.template ?? 'arcface';
  if (t === 'arcface') return ARCFACE_TEMPLATE.map(([x, y]) => [(x * size) / DEFAULT_ALIGN_SIZE, (y * size) / DEFAULT_ALIGN_SIZE]);
  if (!Array.isArray(t) || t.length !== 5 || !t.every((p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite))) {
    throw new RetinaFaceError('invalid option template: expected \'arcface\' or five [x, y] points', { code: 'EOPTION' });
  }
  return t.map(([x, y]) => [x, y]);
}

/** The face's crop: its landmarks mapped onto the template, size x size RGB. */
export function alignFace(image: RgbImage, face: Pick<Face, 'landmarks'>, opts: AlignOptions = {}): AlignedFace {
  const template = alignTemplate(opts);
  const size = opts.size ?? DEFAULT_ALIGN_SIZE;
  const matrix = estimateSimilarity(face.landmarks, template);
  return { ...warpAffine(image, matrix, size, size, opts.borderValue ?? 0), matrix };
}

/** alignFace for each face, in the order given. */
export function alignFaces(image: RgbImage, faces: readonly Pick<Face, 'landmarks'>[], opts: AlignOptions = {}): AlignedFace[] {
  return faces.map((f) => alignFace(image, f, opts));
}
