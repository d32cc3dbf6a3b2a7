// x: (C, H, W) -> (C, H_out, W_out), F.interpolate(mode='nearest', size=[H_out, W_out]).
import { tensor, type Tensor } from '../tensor.js';
import { nearestSourceIndex } from './interpolate_nearest.js';

export function interpolateNearestNaive(x: Tensor, hOut: number, wOut: number): Tensor {
  const [c, h, w] = x.shape as [number, number, number];
  const y = tensor([c, hOut, wOut]);
  for (let ch = 0; ch < c; ch++) {
    for (let oh = 0; oh < hOut; oh++) {
      const ih = nearestSourceIndex(oh, h, hOut);
      for (let ow = 0; ow < wOut; ow++) {
        const iw = nearestSourceIndex(ow, w, wOut);
        y.data[(ch * hOut + oh) * wOut + ow] = x.data[(ch * h + ih) * w + iw]!;
      }
    }
  }
  return y;
}
