// ResNet-50 as torchvision builds it (torchvision/models/resnet.py, v1.5: the stride sits on the
// 3x3 conv of a Bottleneck), the body of resnet50. Every activation is ReLU. layer2, layer3 and
// layer4 feed the FPN; avgpool and fc are dropped by IntermediateLayerGetter.
import { runSequential } from './blocks.js';
import type { Forward } from './forward.js';
import { BatchNorm2d, Conv2d, ConvBnAct, Module, Sequential } from './modules.js';

/** torchvision Bottleneck (expansion 4): 1x1 -> 3x3 (stride) -> 1x1, plus identity or downsample. */
export class Bottleneck extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential<Conv2d | BatchNorm2d> | null;
  /** The block's convolutions with their batch norms and activations, as forward() calls them. */
  readonly units: { conv1: ConvBnAct; conv2: ConvBnAct; conv3: ConvBnAct; downsample: ConvBnAct | null };

  constructor(inplanes: number, planes: number, stride: number, downsample: boolean) {
    super();
    this.conv1 = new Conv2d(inplanes, planes, 1);
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, stride, 1);
    this.bn2 = new BatchNorm2d(planes);
    this.conv3 = new Conv2d(planes, planes * 4, 1);
    this.bn3 = new BatchNorm2d(planes * 4);
    this.downsample = downsample
      ? new Sequential<Conv2d | BatchNorm2d>(new Conv2d(inplanes, planes * 4, 1, stride), new BatchNorm2d(planes * 4))
      : null;
    const ds = this.downsample;
    this.units = {
      conv1: new ConvBnAct(this.conv1, this.bn1, 0),
      conv2: new ConvBnAct(this.conv2, this.bn2, 0),
      conv3: new ConvBnAct(this.conv3, this.bn3, null),
      downsample: ds === null ? null : new ConvBnAct(ds.at(0) as Conv2d, ds.at(1) as BatchNorm2d, null),
    };
  }

  forward<T>(f: Forward<T>, x: T): T {
    const u = this.units;
    const out1 = f.be.convBnAct(x, u.conv1); //    relu(bn1(conv1(x)))
    const out2 = f.be.convBnAct(out1, u.conv2); // relu(bn2(conv2(out)))
    const out3 = f.be.convBnAct(out2, u.conv3); // bn3(conv3(out)): a backend may defer it to the add (lowering.ts residualConvs)
    const identity = u.downsample === null ? x : f.be.convBnAct(x, u.downsample);
    return f.out(this, f.be.add(out3, identity, 0)); // relu(out + identity)
  }
}

function makeLayer(inplanes: number, planes: number, blocks: number, stride: number): Sequential<Bottleneck> {
  const layers = [new Bottleneck(inplanes, planes, stride, true)];
  for (let i = 1; i < blocks; i++) layers.push(new Bottleneck(planes * 4, planes, 1, false));
  return new Sequential(...layers);
}

export class ResNet50 extends Module {
  readonly conv1 = new Conv2d(3, 64, 7, 2, 3); //           640x640 -> (64, 320, 320)
  readonly bn1 = new BatchNorm2d(64);
  // relu, then maxpool 3x3 stride 2 pad 1                          -> (64, 160, 160)
  readonly layer1 = makeLayer(64, 64, 3, 1); //                     -> (256, 160, 160)
  readonly layer2 = makeLayer(256, 128, 4, 2); //                   -> (512, 80, 80)    FPN level 1
  readonly layer3 = makeLayer(512, 256, 6, 2); //                   -> (1024, 40, 40)   FPN level 2
  readonly layer4 = makeLayer(1024, 512, 3, 2); //                  -> (2048, 20, 20)   FPN level 3

  private readonly stem = new ConvBnAct(this.conv1, this.bn1, 0);

  /** The three feature maps IntermediateLayerGetter returns (return_layers layer2, layer3, layer4). */
  forward<T>(f: Forward<T>, x: T): [T, T, T] {
    const r = f.out(`${this.path}.relu`, f.be.convBnAct(x, this.stem));
    const p = f.out(`${this.path}.maxpool`, f.be.maxPool2d(r, 3, 2, 1));
    const c1 = runSequential(f, this.layer1, p);
    const c2 = runSequential(f, this.layer2, c1);
    const c3 = runSequential(f, this.layer3, c2);
    const c4 = runSequential(f, this.layer4, c3);
    return [c2, c3, c4];
  }
}
