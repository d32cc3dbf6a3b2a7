// Box and landmark decoding: the network's regression outputs relative to the anchors -> pixels.
// Reference: biubug6/Pytorch_Retinaface utils/box_utils.py decode / decode_landm, then detect.py
// `boxes * scale`, `landms * scale1` (scale = [W, H, W, H], scale1 = [W, H] x 5).
// CPU only: element-wise over the anchors, run once per image on the head outputs.
//
// loc: (A, 4), landms: (A, 10), priors: (A, 4) -> boxes (A, 4) x1 y1 x2 y2, landmarks (A, 10) x y
// x 5, in pixels of the network input.
//
// PyTorch computes all of this in float32 (a float tensor times a Python float scalar is a
// float32 multiplication by the scalar rounded to float32). `f` rounds each intermediate to
// float32 at the same steps so the results match torch's to the last bit except where torch's
// vectorised exp differs from Math.exp by an ulp.
import type { Tensor } from '../tensor.js';
import { DEFAULT_PRIOR_CONFIG } from './priors.js';

const f = Math.fround;

function checkRows(name: string, t: Tensor, cols: number, anchors: number): void {
  if (t.shape.length !== 2 || t.shape[0] !== anchors || t.shape[1] !== cols) {
    throw new Error(`decode: ${name} must be (${anchors}, ${cols}), got (${t.shape.join(', ')})`);
  }
}

/**
 * decode(loc, priors, variances) * [W, H, W, H]:
 *   centre = prior_c + loc_c * v0 * prior_wh;  wh = prior_wh * exp(loc_wh * v1)
 *   x1y1 = centre - wh / 2;  x2y2 = x1y1 + wh
 */
export function decodeBoxes(
  loc: Tensor,
  priors: Float32Array,
  size: { height: number; width: number },
  variance: readonly [number, number] = DEFAULT_PRIOR_CONFIG.variance,
): Float32Array {
  const anchors = priors.length / 4;
  checkRows('loc', loc, 4, anchors);
  const v0 = f(variance[0]), v1 = f(variance[1]);
  const W = f(size.width), H = f(size.height);
  const l = loc.data;
  const out = new Float32Array(anchors * 4);
  for (let a = 0; a < anchors; a++) {
    const pcx = priors[4 * a]!, pcy = priors[4 * a + 1]!, pw = priors[4 * a + 2]!, ph = priors[4 * a + 3]!;
    const cx = f(pcx + f(f(l[4 * a]! * v0) * pw));
    const cy = f(pcy + f(f(l[4 * a + 1]! * v0) * ph));
    const w = f(pw * f(Math.exp(f(l[4 * a + 2]! * v1))));
    const h = f(ph * f(Math.exp(f(l[4 * a + 3]! * v1))));
    // boxes[:, :2] -= boxes[:, 2:] / 2; boxes[:, 2:] += boxes[:, :2]
    const x1 = f(cx - f(w / 2));
    const y1 = f(cy - f(h / 2));
    const x2 = f(w + x1);
    const y2 = f(h + y1);
    out[4 * a] = f(x1 * W);
    out[4 * a + 1] = f(y1 * H);
    out[4 * a + 2] = f(x2 * W);
    out[4 * a + 3] = f(y2 * H);
  }
  return out;
}

/** decode_landm(pre, priors, variances) * [W, H] x 5: point_p = prior_c + pre_p * v0 * prior_wh. */
export function decodeLandmarks(
  landms: Tensor,
  priors: Float32Array,
  size: { height: number; width: number },
  variance: readonly [number, number] = DEFAULT_PRIOR_CONFIG.variance,
): Float32Array {
  const anchors = priors.length / 4;
  checkRows('landms', landms, 10, anchors);
  const v0 = f(variance[0]);
  const W = f(size.width), H = f(size.height);
  const d = landms.data;
  const out = new Float32Array(anchors * 10);
  for (let a = 0; a < anchors; a++) {
    const pcx = priors[4 * a]!, pcy = priors[4 * a + 1]!, pw = priors[4 * a + 2]!, ph = priors[4 * a + 3]!;
    for (let p = 0; p < 5; p++) {
      const k = 10 * a + 2 * p;
      out[k] = f(f(pcx + f(f(d[k]! * v0) * pw)) * W);
      out[k + 1] = f(f(pcy + f(f(d[k + 1]! * v0) * ph)) * H);
    }
  }
  return out;
}
