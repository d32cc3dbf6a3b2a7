// The two architectures of biubug6/Pytorch_Retinaface (data/config.py: cfg_mnet, cfg_re50).
// Only what the network needs lives here; the prior-box settings live in src/detect.
export type Arch = 'mobile0.25' | 'resnet50';
export const ARCHS: readonly Arch[] = ['mobile0.25', 'resnet50'];

export interface ArchConfig {
  arch: Arch;
  /** channels of the first returned backbone stage; the FPN takes [2, 4, 8] x in_channel... */
  in_channels_list: [number, number, number];
  /** ...and gives out_channel on every level, which SSH keeps. */
  out_channel: number;
}

export const CONFIGS: Record<Arch, ArchConfig> = {
  // cfg_mnet: in_channel 32, out_channel 64; return_layers stage1, stage2, stage3.
  'mobile0.25': { arch: 'mobile0.25', in_channels_list: [64, 128, 256], out_channel: 64 },
  // cfg_re50: in_channel 256, out_channel 256; return_layers layer2, layer3, layer4.
  resnet50: { arch: 'resnet50', in_channels_list: [512, 1024, 2048], out_channel: 256 },
};

/** Anchors per feature-map cell (RetinaFace's num_anchors = 2: min_sizes has two per level). */
export const NUM_ANCHORS = 2;

/**
 * FPN and SSH: `leaky = 0; if (out_channel <= 64): leaky = 0.1` (models/net.py). So mobile0.25
 * uses LeakyReLU(0.1) and resnet50 plain ReLU there.
 */
export function neckSlope(outChannel: number): number {
  return outChannel <= 64 ? 0.1 : 0;
}

export function isArch(s: string): s is Arch {
  return (ARCHS as readonly string[]).includes(s);
}
