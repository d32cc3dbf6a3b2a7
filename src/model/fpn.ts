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
    const size = (x: T) => be.shape(x).slice(1) as [number, number];
    const output1 = this.output1.forward(f, c1);
    const output2 = this.output2.forward(f, c2);
    const output3 = this.output3.forward(f, c3);
    const up3 = be.interpolateNearest(output3, ...size(output2));
    const merged2 = this.merge2.forward(f, be.add(output2, up3, null));
    const up2 = be.interpolateNearest(merged2, ...size(output1));
    const merged1 = this.merge1.forward(f, be.add(output1, up2, null));
    return [merged1, merged2, output3];
  }
}
