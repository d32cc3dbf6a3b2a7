// The context module (models/net.py, class SSH; Najibi et al. 2017): a 3x3 branch with half the
// channels and two stacked 3x3 branches (5x5 and 7x7 receptive fields) with a quarter each,
// sharing conv5X5_1. The three branches end without activation (conv_bn_no_relu); one ReLU
// follows their concatenation. `conv7x7_3` is spelled with a lowercase x in the reference.
import { neckSlope } from './config.js';
import { convBn, convBnNoRelu } from './blocks.js';
import type { Forward } from './forward.js';
import { Module } from './modules.js';

export class SSH extends Module {
  readonly conv3X3;
  readonly conv5X5_1;
  readonly conv5X5_2;
  readonly conv7X7_2;
  readonly conv7x7_3;

  constructor(inChannel: number, outChannel: number) {
    super();
    if (outChannel % 4 !== 0) throw new Error(`SSH: out_channel ${outChannel} is not a multiple of 4`);
    const leaky = neckSlope(outChannel);
    this.conv3X3 = convBnNoRelu(inChannel, outChannel / 2, 1);
    this.conv5X5_1 = convBn(inChannel, outChannel / 4, 1, leaky);
    this.conv5X5_2 = convBnNoRelu(outChannel / 4, outChannel / 4, 1);
    this.conv7X7_2 = convBn(outChannel / 4, outChannel / 4, 1, leaky);
    this.conv7x7_3 = convBnNoRelu(outChannel / 4, outChannel / 4, 1);
  }

  forward<T>(f: Forward<T>, x: T): T {
    const c3 = this.conv3X3.forward(f, x);
    const c5a = this.conv5X5_1.forward(f, x);
    const c5 = this.conv5X5_2.forward(f, c5a);
    const c7a = this.conv7X7_2.forward(f, c5a);
    const c7 = this.conv7x7_3.forward(f, c7a);
    return f.out(this, f.be.cat([c3, c5, c7], 0)); // F.relu(torch.cat([conv3X3, conv5X5, conv7X7], dim=1))
  }
}
