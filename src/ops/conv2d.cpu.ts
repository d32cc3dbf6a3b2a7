// x: (C_in, H, W), w: (C_out, C_in/groups, kH, kW), b: (C_out) | null -> (C_out, H_out, W_out)
// The reference convolution: the literal loops of the definition (nn.Conv2d, dilation 1, zero
// padding), in the order of the math. Every faster variant (conv2d_fast.cpu.ts) and every gpu.js
// kernel is tested against this function.
import { tensor, type Tensor } from '../tensor.js';
import { conv2dOutputShape, type ConvAttrs } from './conv2d.js';

export function conv2dNaive(x: Tensor, w: Tensor, b: Tensor | null, attrs: ConvAttrs): Tensor {
  const [cOut, hOut, wOut] = conv2dOutputShape(x.shape, w.shape, attrs);
  const [, h, wd] = x.shape as [number, number, number];
  const [, cPerGroup, kH, kW] = w.shape as [number, number, number, number];
  const { stride, padding, groups } = attrs;
  const outPerGroup = cOut / groups;
  const y = tensor([cOut, hOut, wOut]);
  for (let oc = 0; oc < cOut; oc++) {
    const g = Math.floor(oc / outPerGroup);
    for (let oh = 0; oh < hOut; oh++) {
      for (let ow = 0; ow < wOut; ow++) {
        let acc = b === null ? 0 : b.data[oc]!;
        for (let icg = 0; icg < cPerGroup; icg++) {
          const ic = g * cPerGroup + icg;
          for (let kh = 0; kh < kH; kh++) {
            const ih = oh * stride - padding + kh;
            if (ih < 0 || ih >= h) continue;
            for (let kw = 0; kw < kW; kw++) {
              const iw = ow * stride - padding + kw;
              if (iw < 0 || iw >= wd) continue;
              acc += x.data[(ic * h + ih) * wd + iw]! * w.data[((oc * cPerGroup + icg) * kH + kh) * kW + kw]!;
            }
          }
        }
        y.data[(oc * hOut + oh) * wOut + ow] = acc;
      }
    }
  }
  return y;
}
