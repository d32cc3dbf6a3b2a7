// The similarity transform (rotation, uniform scale, translation; no reflection) that maps
// points `src` onto points `dst` in the least-squares sense: Umeyama (1991), as
// skimage.transform.SimilarityTransform.estimate computes it, written in its 2-D closed form.
//
// In 2-D a similarity is multiplication by a complex number a + ib, plus a translation. With
// both point sets centred (s_i, d_i as complex numbers), the least-squares a + ib is
//     sum(conj(s_i) * d_i) / sum(|s_i|^2)
// which is Umeyama's solution: its rotation is the best proper rotation (his S = diag(1, det U
// det V) correction against reflections) and its scale trace(D S) / var(src) equals
// 2 |z1| / var(src), z1 the conformal part of the cross-covariance, = |sum conj(s) d| / sum |s|^2.
// Then the translation maps the source centroid onto the destination centroid.
//
// Returned as the 2x3 matrix [[a, -b, tx], [b, a, ty]]: (x, y) -> (a x - b y + tx, b x + a y + ty).
import type { Point } from '../detect/postprocess.js';
import { RetinaFaceError } from '../errors.js';

/** A 2x3 affine matrix, row-major: [[m00, m01, m02], [m10, m11, m12]]. */
export type Matrix2x3 = [[number, number, number], [number, number, number]];

export function estimateSimilarity(src: readonly Point[], dst: readonly Point[]): Matrix2x3 {
  const n = src.length;
  if (n < 2 || dst.length !== n) {
    throw new RetinaFaceError(`a similarity needs the same number (>= 2) of source and destination points, got ${n} and ${dst.length}`, { code: 'EOPTION' });
  }
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i]![0]; sy += src[i]![1];
    dx += dst[i]![0]; dy += dst[i]![1];
  }
  sx /= n; sy /= n; dx /= n; dy /= n;
  // sum(conj(s) * d) = sum(s.x d.x + s.y d.y) + i sum(s.x d.y - s.y d.x), over centred points
  let re = 0, im = 0, norm = 0;
  for (let i = 0; i < n; i++) {
    const px = src[i]![0] - sx, py = src[i]![1] - sy;
    const qx = dst[i]![0] - dx, qy = dst[i]![1] - dy;
    re += px * qx + py * qy;
    im += px * qy - py * qx;
    norm += px * px + py * py;
  }
  if (!(norm > 0) || !Number.isFinite(re + im)) {
    // skimage returns a matrix of NaN here (all source points equal, or not finite)
    throw new RetinaFaceError('the source points coincide: no similarity maps them', { code: 'EDEGENERATE' });
  }
  const a = re / norm, b = im / norm;
  return [[a, -b, dx - (a * sx - b * sy)], [b, a, dy - (b * sx + a * sy)]];
}

/** (x, y) through the matrix. */
export function applyMatrix(m: Matrix2x3, p: Point): Point {
  return [m[0][0] * p[0] + m[0][1] * p[1] + m[0][2], m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]];
}

/** The inverse of an invertible affine matrix (throws EDEGENERATE for a singular one). */
export function invertMatrix(m: Matrix2x3): Matrix2x3 {
  const [[a, b, c], [d, e, f]] = m;
  const det = a * e - b * d;
  if (det === 0 || !Number.isFinite(det)) throw new RetinaFaceError('the matrix is singular', { code: 'EDEGENERATE' });
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return [[ia, ib, -(ia * c + ib * f)], [id, ie, -(id * c + ie * f)]];
}
