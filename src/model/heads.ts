// The per-level heads (models/retinaface.py, ClassHead / BboxHead / LandmarkHead): a 1x1 conv
// with bias to num_anchors * k channels, permuted to (H, W, C) and viewed as (H * W * 2, k):
// k = 2 class logits, 4 box offsets, 10 landmark offsets (5 points x (x, y)).
import { NUM_ANCHORS } from './config.js';
import type { Forward } from './forward.js';
import { Conv2d, ConvBnAct, Module } from './modules.js';

export class Head extends Module {
  readonly conv1x1: Conv2d;
  readonly unit: ConvBnAct;
  constructor(inchannels: number, readonly k: 2 | 4 | 10) {
    super();
    this.conv1x1 = new Conv2d(inchannels, NUM_ANCHORS * k, 1, 1, 0, 1, true);
    this.unit = new ConvBnAct(this.conv1x1, null, null);
  }
  forward<T>(f: Forward<T>, x: T): T {
    return f.out(this, f.be.headPermute(f.be.convBnAct(x, this.unit), this.k)); // permute(0, 2, 3, 1).view(1, -1, k)
  }
}
