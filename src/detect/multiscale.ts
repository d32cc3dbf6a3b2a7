// Multi-scale and flip testing (Deng et al. 2019, section 4: "flip as well as multi-scale (the short
// edge of image at [500, 800, 1100, 1400, 1700]) strategies"): the options, each run's network
// image, and how its proposals return to original pixels. The detector (src/detector.ts) runs the
// network once per (scale, flip) and merges the runs (merge.ts).
import { RetinaFaceError } from '../errors.js';
import type { RgbImage } from '../image/image.js';
import { resizeArea } from '../image/preprocess.js';
import { resizeLinear } from '../image/resize_linear.js';
import { MERGE_MODES, type MergeMode } from './merge.js';

export interface MultiScaleOptions {
  /**
   * Scale factors of the image the network sees, e.g. [1, 2] (default [1]): > 1 upsamples
   * (OpenCV INTER_LINEAR), < 1 downsamples (INTER_AREA). A face of s pixels at scale 1 is s * k
   * pixels at scale k: 2 brings the 8-16 px faces of a crowd to the network's smallest anchor
   * (16 px). The forward pass costs about k^2 times scale 1's.
   */
  scales: readonly number[];
  /** Also run every scale on the image mirrored left-right (twice the forward time). */
  flip: boolean;
  /** How the runs' boxes are merged: 'nms' (the reference's suppression) or 'vote' (box voting). */
  merge: MergeMode;
}

export const DEFAULT_MULTI_SCALE: Readonly<MultiScaleOptions> = Object.freeze({ scales: Object.freeze([1]), flip: false, merge: 'nms' });

/** The largest scale factor accepted (an image upscaled 16x is 256x the pixels). */
export const MAX_SCALE = 16;
/** The smallest: below it a photo is a few pixels wide. */
export const MIN_SCALE = 1 / 64;

function bad(name: string, value: unknown, expected: string): RetinaFaceError {
  const shown = Array.isArray(value) ? `[${value.map(String).join(', ')}]` : JSON.stringify(value) ?? String(value);
  return new RetinaFaceError(`invalid option ${name}: ${shown} (expected ${expected})`, { code: 'EOPTION' });
}

/** Fills defaults and validates; every error is a RetinaFaceError naming the option. */
export function resolveMultiScale(o: Partial<Record<keyof MultiScaleOptions, unknown>>): MultiScaleOptions {
  const scales = o.scales ?? DEFAULT_MULTI_SCALE.scales;
  const okScale = (s: unknown) => typeof s === 'number' && Number.isFinite(s) && s >= MIN_SCALE && s <= MAX_SCALE;
  if (!Array.isArray(scales) || scales.length === 0 || scales.length > 16 || !scales.every(okScale)) {
    throw bad('scales', scales, `1 to 16 numbers in [1/64, ${MAX_SCALE}], e.g. [1, 2]`);
  }
  if (new Set(scales).size !== scales.length) throw bad('scales', scales, 'each scale once');
  const flip = o.flip ?? false;
  if (typeof flip !== 'boolean') throw bad('flip', flip, 'true or false');
  const merge = o.merge ?? 'nms';
  if (!(MERGE_MODES as readonly unknown[]).includes(merge)) throw bad('merge', merge, MERGE_MODES.map((m) => `'${m}'`).join(' or '));
  return { scales: [...(scales as number[])], flip, merge: merge as MergeMode };
}

/** True when the options ask for exactly one plain run (scales [1], no flip): today's detector. */
export function isSingleRun(o: MultiScaleOptions): boolean {
  return o.scales.length === 1 && o.scales[0] === 1 && !o.flip;
}

/** The network input size at scale s: cv2.resize(img, None, fx=s, fy=s)'s, round(W * s) x round(H * s), at least 1. */
export function scaledSize(width: number, height: number, s: number): { width: number; height: number } {
  return { width: Math.max(1, Math.round(width * s)), height: Math.max(1, Math.round(height * s)) };
}

/** The image at scale s: INTER_LINEAR up, INTER_AREA down, itself at 1. */
export function scaleImage(img: RgbImage, s: number): RgbImage {
  const { width, height } = scaledSize(img.width, img.height, s);
  if (width === img.width && height === img.height) return img;
  if (width >= img.width && height >= img.height) return resizeLinear(img, width, height);
  if (width <= img.width && height <= img.height) return resizeArea(img, width, height);
  throw new RangeError(`scale ${s}: ${img.width}x${img.height} -> ${width}x${height} grows one side and shrinks the other`);
}

/** The image mirrored left-right (cv2.flip(img, 1)). */
export function mirrorImage(img: RgbImage): RgbImage {
  const { width: W, height: H, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < H; y++) {
    const row = 3 * y * W;
    for (let x = 0; x < W; x++) {
      const s = row + 3 * x, d = row + 3 * (W - 1 - x);
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  return { width: W, height: H, data: out };
}
