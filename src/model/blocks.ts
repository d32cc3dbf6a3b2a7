// The reference's building blocks (models/net.py), each an nn.Sequential so that the child
// names ('0', '1', '2', ...) and thus the state-dict keys are PyTorch's.
import type { Slope } from '../ops/activation.js';
import type { Forward } from './forward.js';
import { BatchNorm2d, Conv2d, ConvBnAct, LeakyReLU, Sequential, type Module } from './modules.js';

/**
 * conv_bn(inp, oup, stride, leaky):       Conv2d 3x3 pad 1 (no bias), BatchNorm2d, LeakyReLU(leaky)
 * conv_bn_no_relu(inp, oup, stride):      Conv2d 3x3 pad 1 (no bias), BatchNorm2d
 * conv_bn1X1(inp, oup, stride, leaky):    Conv2d 1x1 pad 0 (no bias), BatchNorm2d, LeakyReLU(leaky)
 */
export class ConvBn extends Sequential {
  readonly unit: ConvBnAct;
  constructor(inp: number, oup: number, kernel: 1 | 3, stride: number, slope: Slope) {
    const conv = new Conv2d(inp, oup, kernel, stride, kernel === 3 ? 1 : 0);
    const bn = new BatchNorm2d(oup);
    super(...(slope === null ? [conv, bn] : [conv, bn, new LeakyReLU(slope)]));
    this.unit = new ConvBnAct(conv, bn, slope);
  }
  forward<T>(f: Forward<T>, x: T): T {
    return f.out(this, f.be.convBnAct(x, this.unit));
  }
}

export const convBn = (inp: number, oup: number, stride: number, leaky: number) => new ConvBn(inp, oup, 3, stride, leaky);
export const convBnNoRelu = (inp: number, oup: number, stride: number) => new ConvBn(inp, oup, 3, stride, null);
export const convBn1x1 = (inp: number, oup: number, stride: number, leaky: number) => new ConvBn(inp, oup, 1, stride, leaky);

/**
 * conv_dw(inp, oup, stride, leaky=0.1): the MobileNetV1 depthwise-separable block,
 * Conv2d 3x3 groups=inp (no bias), BN, LeakyReLU, Conv2d 1x1 (no bias), BN, LeakyReLU.
 */
export class ConvDw extends Sequential {
  readonly depthwise: ConvBnAct;
  readonly pointwise: ConvBnAct;
  constructor(inp: number, oup: number, stride: number, leaky = 0.1) {
    const dw = new Conv2d(inp, inp, 3, stride, 1, inp);
    const dwBn = new BatchNorm2d(inp);
    const pw = new Conv2d(inp, oup, 1, 1, 0);
    const pwBn = new BatchNorm2d(oup);
    super(dw, dwBn, new LeakyReLU(leaky), pw, pwBn, new LeakyReLU(leaky));
    this.depthwise = new ConvBnAct(dw, dwBn, leaky);
    this.pointwise = new ConvBnAct(pw, pwBn, leaky);
  }
  forward<T>(f: Forward<T>, x: T): T {
    const d = f.be.convBnAct(x, this.depthwise);
    return f.out(this, f.be.convBnAct(d, this.pointwise));
  }
}

/** nn.Sequential's forward: each block on the previous block's output. */
export function runSequential<T>(f: Forward<T>, seq: Sequential<Module & { forward<U>(f: Forward<U>, x: U): U }>, x: T): T {
  let h = x;
  for (const block of seq.items) h = block.forward(f, h);
  return f.out(seq, h);
}
