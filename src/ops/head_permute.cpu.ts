// x: (A * k, H, W) -> (H * W * A, k): the heads' out.permute(0, 2, 3, 1).contiguous().view(N, -1, k)
// (models/retinaface.py ClassHead/BboxHead/LandmarkHead.forward), batch dropped. Row
// (h * W + w) * A + a holds anchor a of cell (h, w); column j is channel a * k + j.
import { tensor, type Tensor } from '../tensor.js';

export function headPermuteNaive(x: Tensor, k: number): Tensor {
  const [c, h, w] = x.shape as [number, number, number];
  if (c % k !== 0) throw new Error(`head permute: ${c} channels are not a multiple of ${k}`);
  const y = tensor([(h * w * c) / k, k]);
  for (let ih = 0; ih < h; ih++) {
    for (let iw = 0; iw < w; iw++) {
      for (let ch = 0; ch < c; ch++) y.data[(ih * w + iw) * c + ch] = x.data[(ch * h + ih) * w + iw]!;
    }
  }
  return y;
}
