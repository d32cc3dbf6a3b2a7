// The feature pyramid (models/net.py, class FPN): 1x1 lateral convs to out_channel, the coarser
// level upsampled (nearest, to the finer level's exact size: for odd inputs that is not 2x) and
// added, then a 3x3 merge. Level 3 has no merge: fpn[2] is output3 itself.
import { neckSlope } from './config.js';
import { convBn, convBn1x1 } from './blocks.js';
import type { Forward } from './forward.js';
import { Module } from './modules.js';

export class FPN extends Module {
  readonly output1;
  readonly output2;
  readonly output3;
  readonly merge1;
  readonly merge2;

  constructor(inChannelsList: [number, number, number], outChannels: number) {
    super();
    const leaky = neckSlope(outChannels);
    this.output1 = convBn1x1(inChannelsList[0], outChannels, 1, leaky);
    this.output2 = convBn1x1(inChannelsList[1], outChannels, 1, leaky);
    this.output3 = convBn1x1(inChannelsList[2], outChannels, 1, leaky);
    this.merge1 = convBn(outChannels, outChannels, 1, leaky);
    this.merge2 = convBn(outChannels, outChannels, 1, leaky);
  }

  forward<T>(f: Forward<T>, [c1, c2, c3]: [T, T, T]): [T, T, T] {
    const be = f.be;
    const o1 = this.output1.forward(f, c1);
    const o2 = this.output2.forward(f, c2);
    const o3 = this.output3.forward(f, c3);
    const [, h2, w2] = be.shape(o2) as [number, number, number];
    const up3 = be.interpolateNearest(o3, h2, w2);
    const sum2 = be.add(o2, up3, null);
    f.release(o2, up3);
    const m2 = this.merge2.forward(f, sum2);
    f.release(sum2);
    const [, h1, w1] = be.shape(o1) as [number, number, number];
    const up2 = be.interpolateNearest(m2, h1, w1);
    const sum1 = be.add(o1, up2, null);
    f.release(o1, up2);
    const m1 = this.merge1.forward(f, sum1);
    f.release(sum1);
    return [m1, m2, o3];
  }
}
