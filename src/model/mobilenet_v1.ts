// MobileNetV1 with width 0.25 (models/net.py, class MobileNetV1), the body of mobile0.25.
// Every LeakyReLU in the body has slope 0.1. The reference also defines avg and fc, but
// IntermediateLayerGetter keeps only the modules up to stage3, so the checkpoint has neither.
// Channel counts and strides, one block per line as in the reference (receptive field in the
// comment):                                              640x640 input -> output
import { convBn, ConvDw, runSequential, type ConvBn } from './blocks.js';
import type { Forward } from './forward.js';
import { Module, Sequential } from './modules.js';

export class MobileNetV1 extends Module {
  readonly stage1 = new Sequential<ConvBn | ConvDw>(
    convBn(3, 8, 2, 0.1), //     3                                  (8, 320, 320)
    new ConvDw(8, 16, 1), //     7                                  (16, 320, 320)
    new ConvDw(16, 32, 2), //   11                                  (32, 160, 160)
    new ConvDw(32, 32, 1), //   19                                  (32, 160, 160)
    new ConvDw(32, 64, 2), //   27                                  (64, 80, 80)
    new ConvDw(64, 64, 1), //   43                                  (64, 80, 80)   -> FPN level 1, stride 8
  );
  readonly stage2 = new Sequential<ConvDw>(
    new ConvDw(64, 128, 2), //  43 + 16 = 59                        (128, 40, 40)
    new ConvDw(128, 128, 1), // 59 + 32 = 91
    new ConvDw(128, 128, 1), // 91 + 32 = 123
    new ConvDw(128, 128, 1), // 123 + 32 = 155
    new ConvDw(128, 128, 1), // 155 + 32 = 187
    new ConvDw(128, 128, 1), // 187 + 32 = 219                      (128, 40, 40)  -> FPN level 2, stride 16
  );
  readonly stage3 = new Sequential<ConvDw>(
    new ConvDw(128, 256, 2), // 219 + 32 = 251                      (256, 20, 20)
    new ConvDw(256, 256, 1), // 251 + 64 = 315                      (256, 20, 20)  -> FPN level 3, stride 32
  );

  /** The three feature maps IntermediateLayerGetter returns (return_layers stage1, stage2, stage3). */
  forward<T>(f: Forward<T>, x: T): [T, T, T] {
    const c1 = runSequential(f, this.stage1, x);
    const c2 = runSequential(f, this.stage2, c1);
    const c3 = runSequential(f, this.stage3, c2);
    return [c1, c2, c3];
  }
}
