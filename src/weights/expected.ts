// The state-dict names and shapes of each RetinaFace architecture, written from the reference
// (biubug6/Pytorch_Retinaface models/net.py and models/retinaface.py; torchvision resnet50).
// TEMPORARY: the model's own module walk (src/model/) will replace this file; keep the signature.
// num_batches_tracked is absent on purpose: the checkpoint reader drops it.

export type Arch = 'mobile0.25' | 'resnet50';
export const ARCHS: readonly Arch[] = ['mobile0.25', 'resnet50'];

type Shapes = Map<string, number[]>;

/** Every state-dict key of `arch` with its shape, in the modules' registration order. */
export function expectedShapes(arch: Arch): Map<string, number[]> {
  const m: Shapes = new Map();
  if (arch === 'mobile0.25') {
    // net.py MobileNetV1 (width 0.25); RetinaFace keeps stage1..3 (IntermediateLayerGetter drops avg, fc)
    convBn(m, 'body.stage1.0', 3, 8, 3);  // conv_bn(3, 8, stride 2, leaky 0.1)
    convDw(m, 'body.stage1.1', 8, 16);    // conv_dw(8, 16, 1)
    convDw(m, 'body.stage1.2', 16, 32);   // conv_dw(16, 32, 2)
    convDw(m, 'body.stage1.3', 32, 32);   // conv_dw(32, 32, 1)
    convDw(m, 'body.stage1.4', 32, 64);   // conv_dw(32, 64, 2)
    convDw(m, 'body.stage1.5', 64, 64);   // conv_dw(64, 64, 1)
    convDw(m, 'body.stage2.0', 64, 128);  // conv_dw(64, 128, 2)
    convDw(m, 'body.stage2.1', 128, 128); // conv_dw(128, 128, 1)
    convDw(m, 'body.stage2.2', 128, 128);
    convDw(m, 'body.stage2.3', 128, 128);
    convDw(m, 'body.stage2.4', 128, 128);
    convDw(m, 'body.stage2.5', 128, 128);
    convDw(m, 'body.stage3.0', 128, 256); // conv_dw(128, 256, 2)
    convDw(m, 'body.stage3.1', 256, 256); // conv_dw(256, 256, 1)
    neckAndHeads(m, [64, 128, 256], 64);  // in_channel 32 -> [32*2, 32*4, 32*8], out_channel 64
  } else {
    // torchvision resnet50; RetinaFace keeps conv1..layer4 (IntermediateLayerGetter drops avgpool, fc)
    conv(m, 'body.conv1', 64, 3, 7);
    bn(m, 'body.bn1', 64);
    resLayer(m, 'body.layer1', 64, 64, 3);    // -> 256 channels
    resLayer(m, 'body.layer2', 256, 128, 4);  // -> 512, stride 2
    resLayer(m, 'body.layer3', 512, 256, 6);  // -> 1024, stride 2
    resLayer(m, 'body.layer4', 1024, 512, 3); // -> 2048, stride 2
    neckAndHeads(m, [512, 1024, 2048], 256);  // in_channel 256 -> [512, 1024, 2048], out_channel 256
  }
  return m;
}

/** retinaface.py: fpn, ssh1..3 and the three heads of 3 levels each (anchor_num 2). */
function neckAndHeads(m: Shapes, inChannels: [number, number, number], out: number): void {
  // net.py FPN: output1..3 = conv_bn1X1(in_i, out), merge1/2 = conv_bn(out, out) (3x3)
  convBn(m, 'fpn.output1', inChannels[0], out, 1);
  convBn(m, 'fpn.output2', inChannels[1], out, 1);
  convBn(m, 'fpn.output3', inChannels[2], out, 1);
  convBn(m, 'fpn.merge1', out, out, 3);
  convBn(m, 'fpn.merge2', out, out, 3);
  for (const ssh of ['ssh1', 'ssh2', 'ssh3']) {
    // net.py SSH(out, out): every branch is a 3x3 conv (no bias) + BN
    convBn(m, `${ssh}.conv3X3`, out, out / 2, 3);
    convBn(m, `${ssh}.conv5X5_1`, out, out / 4, 3);
    convBn(m, `${ssh}.conv5X5_2`, out / 4, out / 4, 3);
    convBn(m, `${ssh}.conv7X7_2`, out / 4, out / 4, 3);
    convBn(m, `${ssh}.conv7x7_3`, out / 4, out / 4, 3); // sic: lower-case x in the reference
  }
  // retinaface.py ClassHead / BboxHead / LandmarkHead: a biased 1x1 conv, 2 anchors x (2 | 4 | 10)
  for (const [head, perAnchor] of [['ClassHead', 2], ['BboxHead', 4], ['LandmarkHead', 10]] as const) {
    for (const level of [0, 1, 2]) conv(m, `${head}.${level}.conv1x1`, 2 * perAnchor, out, 1, true);
  }
}

/** torchvision Bottleneck layer: `blocks` blocks of width `planes`, expansion 4, downsample in the first. */
function resLayer(m: Shapes, prefix: string, inplanes: number, planes: number, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    const p = `${prefix}.${b}`;
    const inp = b === 0 ? inplanes : planes * 4;
    conv(m, `${p}.conv1`, planes, inp, 1);
    bn(m, `${p}.bn1`, planes);
    conv(m, `${p}.conv2`, planes, planes, 3);
    bn(m, `${p}.bn2`, planes);
    conv(m, `${p}.conv3`, planes * 4, planes, 1);
    bn(m, `${p}.bn3`, planes * 4);
    if (b === 0) {
      conv(m, `${p}.downsample.0`, planes * 4, inplanes, 1);
      bn(m, `${p}.downsample.1`, planes * 4);
    }
  }
}

/** net.py conv_bn / conv_bn1X1 / conv_bn_no_relu: Sequential(Conv2d(bias=False), BatchNorm2d, ...) */
function convBn(m: Shapes, prefix: string, inp: number, oup: number, k: number): void {
  conv(m, `${prefix}.0`, oup, inp, k);
  bn(m, `${prefix}.1`, oup);
}

/** net.py conv_dw: Sequential(3x3 depthwise conv, BN, LeakyReLU, 1x1 conv, BN, LeakyReLU) */
function convDw(m: Shapes, prefix: string, inp: number, oup: number): void {
  conv(m, `${prefix}.0`, inp, 1, 3); // groups = inp: one input channel per filter
  bn(m, `${prefix}.1`, inp);
  conv(m, `${prefix}.3`, oup, inp, 1);
  bn(m, `${prefix}.4`, oup);
}

/** nn.Conv2d: weight (C_out, C_in/groups, kH, kW), bias (C_out) */
function conv(m: Shapes, prefix: string, out: number, inPerGroup: number, k: number, bias = false): void {
  m.set(`${prefix}.weight`, [out, inPerGroup, k, k]);
  if (bias) m.set(`${prefix}.bias`, [out]);
}

/** nn.BatchNorm2d: affine weight and bias, running statistics */
function bn(m: Shapes, prefix: string, c: number): void {
  for (const p of ['weight', 'bias', 'running_mean', 'running_var']) m.set(`${prefix}.${p}`, [c]);
}
