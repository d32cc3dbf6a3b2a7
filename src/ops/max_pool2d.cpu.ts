// x: (C, H, W) -> (C, H_out, W_out), nn.MaxPool2d(kernel, stride, padding) with ceil_mode False:
// H_out = floor((H + 2 padding - kernel) / stride) + 1; padded positions never win (-inf).
// ResNet-50's stem uses kernel 3, stride 2, padding 1.
import { tensor, type Tensor } from '../tensor.js';
import { convOutputSize } from './conv2d.js';

export function maxPool2dNaive(x: Tensor, kernel: number, stride: number, padding: number): Tensor {
  const [c, h, w] = x.shape as [number, number, number];
  const hOut = convOutputSize(h, kernel, stride, padding);
  const wOut = convOutputSize(w, kernel, stride, padding);
  const y = tensor([c, hOut, wOut]);
  for (let ch = 0; ch < c; ch++) {
    for (let oh = 0; oh < hOut; oh++) {
      for (let ow = 0; ow < wOut; ow++) {
        let m = -Infinity;
        for (let kh = 0; kh < kernel; kh++) {
          const ih = oh * stride - padding + kh;
          if (ih < 0 || ih >= h) continue;
          for (let kw = 0; kw < kernel; kw++) {
            const iw = ow * stride - padding + kw;
            if (iw < 0 || iw >= w) continue;
            const v = x.data[(ch * h + ih) * w + iw]!;
            if (v > m || Number.isNaN(v)) m = v;
          }
        }
        y.data[(ch * hOut + oh) * wOut + ow] = m;
      }
    }
  }
  return y;
}
