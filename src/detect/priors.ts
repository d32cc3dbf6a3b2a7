// Anchor boxes ("priors") of RetinaFace, as the reference's PriorBox builds them
// (biubug6/Pytorch_Retinaface layers/functions/prior_box.py, PriorBox.forward).
// CPU only: a few hundred thousand numbers computed once per image size and cached.
//
// -> (A, 4) row-major Float32Array of (cx, cy, w, h), normalised to the image size, where
//    A = sum over levels k of ceil(H / step_k) * ceil(W / step_k) * minSizes[k].length.
// Order (the order of the network's head outputs): level by level (steps 8, 16, 32), within a
// level row-major over (i = row, j = column), within a cell the level's min sizes in order.

/** cfg_mnet / cfg_re50 in the reference data/config.py: both backbones share these values. */
export interface PriorConfig {
  readonly minSizes: readonly (readonly number[])[];
  readonly steps: readonly number[];
  /** Box-coding variances (centre, size): used by decode, kept here as the reference's cfg does. */
  readonly variance: readonly [number, number];
}

export const DEFAULT_PRIOR_CONFIG: PriorConfig = Object.freeze({
  minSizes: Object.freeze([Object.freeze([16, 32]), Object.freeze([64, 128]), Object.freeze([256, 512])]),
  steps: Object.freeze([8, 16, 32]),
  variance: Object.freeze([0.1, 0.2]) as readonly [number, number],
});

/** Number of anchors for an image of height x width: the first dimension of loc/conf/landms. */
export function priorCount(height: number, width: number, cfg: PriorConfig = DEFAULT_PRIOR_CONFIG): number {
  let n = 0;
  cfg.steps.forEach((step, k) => {
    n += Math.ceil(height / step) * Math.ceil(width / step) * cfg.minSizes[k]!.length;
  });
  return n;
}

// A video or a batch of photos from one camera reuses a handful of sizes; a 2048x1150 table is
// 1.5 MB, so a few entries are plenty. Insertion-ordered Map: the oldest entry goes first.
const CACHE_ENTRIES = 4;
const cache = new Map<string, Float32Array>();

/**
 * The anchors for an image of `height` x `width` pixels (the network input's size). The values
 * are computed in double as the reference's Python does, then stored as float32 as
 * `torch.Tensor(anchors)` does; clip is False in both configs, so no clamping. The returned
 * array is shared with the cache: do not modify it.
 */
export function priorBoxes(height: number, width: number, cfg: PriorConfig = DEFAULT_PRIOR_CONFIG): Float32Array {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`priorBoxes: image size must be positive integers, got ${height}x${width}`);
  }
  if (cfg.minSizes.length !== cfg.steps.length) {
    throw new Error(`priorBoxes: ${cfg.minSizes.length} min_sizes levels but ${cfg.steps.length} steps`);
  }
  const key = `${height}x${width}:${JSON.stringify([cfg.minSizes, cfg.steps])}`;
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const out = new Float32Array(priorCount(height, width, cfg) * 4);
  let a = 0;
  cfg.steps.forEach((step, k) => {
    const rows = Math.ceil(height / step);
    const cols = Math.ceil(width / step);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        for (const minSize of cfg.minSizes[k]!) {
          // prior_box.py: dense_cx = (j + 0.5) * steps[k] / image_size[1]; s_kx = min_size / image_size[1]
          out[a++] = ((j + 0.5) * step) / width;
          out[a++] = ((i + 0.5) * step) / height;
          out[a++] = minSize / width;
          out[a++] = minSize / height;
        }
      }
    }
  });
  if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(key, out);
  return out;
}
