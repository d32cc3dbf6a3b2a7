// The one lowering of the network's convolutions, shared by every backend: for each ConvBnAct
// unit the model built (src/model, at construction), its kind from the one classifier
// (ops/conv2d.ts convKind), its report label, its activation, and on demand the batch norm folded
// into the weights. Backends only pack and upload what this yields; none re-derives which batch
// norm belongs to which conv.
//
// Folding (eval-mode BatchNorm2d after a bias-free conv, eps 1e-5):
//   s = gamma / sqrt(running_var + eps),  w' = w * s (per output channel),  b' = (b - running_mean) * s + beta.
import { ConvDw } from '../model/blocks.js';
import { Bottleneck } from '../model/resnet50.js';
import { RetinaFace } from '../model/retinaface.js';
import { SSH } from '../model/ssh.js';
import { convUnits, namedModules, type ConvBnAct, type Module } from '../model/modules.js';
import type { Slope } from '../ops/activation.js';
import { foldBatchNorm } from '../ops/batch_norm2d.cpu.js';
import { convKind, convLabel, type ConvAttrs, type ConvKind } from '../ops/conv2d.js';

export interface LoweredConv extends ConvAttrs {
  readonly unit: ConvBnAct;
  /** the PyTorch path of the conv (`body.stage1.0.0`) */
  readonly path: string;
  readonly kind: ConvKind;
  /** as the reports group convs: 'depthwise 3x3/2', 'pointwise 1x1', 'stem 7x7/2', 'head 1x1', ... */
  readonly label: string;
  readonly cIn: number;
  readonly cOut: number;
  readonly kernel: number;
  readonly slope: Slope;
  /** OIHW weights and per-channel bias with the batch norm folded in (no BN: the conv's own, bias zero if none). Computed per call. */
  folded(): { weight: Float32Array; bias: Float32Array };
}

/** Lowers one unit (its weights are read when folded() is called, so units may be lowered before loading). */
export function lowerConv(unit: ConvBnAct): LoweredConv {
  const { conv, bn } = unit;
  const attrs: ConvAttrs = { stride: conv.stride, padding: conv.padding, groups: conv.groups };
  const where = (e: unknown): never => {
    throw new Error(`${conv.path}: ${e instanceof Error ? e.message : String(e)}`);
  };
  let kind: ConvKind;
  let label: string;
  try {
    kind = convKind(conv.weight.shape, attrs);
    label = convLabel(conv.weight.shape, attrs, conv.bias !== null);
  } catch (e) {
    return where(e);
  }
  return {
    unit, path: conv.path, kind, label, ...attrs,
    cIn: conv.in_channels, cOut: conv.out_channels, kernel: conv.kernel_size, slope: unit.slope,
    folded() {
      if (bn === null) return { weight: conv.weight.data, bias: conv.bias?.data ?? new Float32Array(conv.out_channels) };
      const f = foldBatchNorm(conv.weight, conv.bias, bn);
      return { weight: f.w.data, bias: f.b.data };
    },
  };
}

/** Every unit of the model, lowered, keyed by unit (the handle a forward pass passes to convBnAct). */
export function lowerModel(model: Module): Map<ConvBnAct, LoweredConv> {
  return new Map(convUnits(model).map((u) => [u, lowerConv(u)]));
}

/**
 * The depthwise-separable blocks (models/net.py conv_dw, blocks.ts ConvDw) of the model: each
 * depthwise unit mapped to the pointwise unit that consumes its output and nothing else. A backend
 * may run such a pair as one fused op (cpu-simd: ops/simd/dwpw.ts); the network definition still
 * calls convBnAct twice.
 */
export function depthwiseSeparablePairs(model: Module): Map<ConvBnAct, ConvBnAct> {
  const pairs = new Map<ConvBnAct, ConvBnAct>();
  for (const [, m] of namedModules(model)) {
    if (m instanceof ConvDw) pairs.set(m.depthwise, m.pointwise);
  }
  return pairs;
}

/**
 * Convolutions of one input, each group's first called first, mapped to the rest in call order:
 * each SSH's conv3X3 and conv5X5_1 (models/net.py runs both on the module's input, conv3X3
 * first) and its conv5X5_2 and conv7X7_2 (both on conv5X5_1's output, in that order), and each
 * pyramid level's three heads, BboxHead.i, ClassHead.i, LandmarkHead.i (the reference calls
 * BboxHead on every level, then ClassHead, then LandmarkHead). A backend may run a group as one
 * (cpu-simd: one GEMM over every unit's output channels, after one Winograd input transform for
 * SSH's pairs, one packing of the input for the heads).
 */
export function sharedInputGroups(model: Module): Map<ConvBnAct, ConvBnAct[]> {
  const groups = new Map<ConvBnAct, ConvBnAct[]>();
  for (const [, m] of namedModules(model)) {
    if (m instanceof SSH) {
      groups.set(m.conv3X3.unit, [m.conv5X5_1.unit]);
      groups.set(m.conv5X5_2.unit, [m.conv7X7_2.unit]);
    }
    if (m instanceof RetinaFace) {
      m.BboxHead.items.forEach((bbox, i) => groups.set(bbox.unit, [m.ClassHead.at(i).unit, m.LandmarkHead.at(i).unit]));
    }
  }
  return groups;
}

/**
 * The convolutions whose output only a residual add consumes, un-activated: each ResNet-50
 * Bottleneck's conv3 (bn3, no ReLU), whose output the block adds to the identity (or the
 * downsample) under one ReLU. A backend may run such a unit with that add as one op (cpu-simd:
 * the identity added to the GEMM's sums before the ReLU, gemm.ts gemmResidual); the network
 * definition still calls convBnAct, then add.
 */
export function residualConvs(model: Module): Set<ConvBnAct> {
  const units = new Set<ConvBnAct>();
  for (const [, m] of namedModules(model)) {
    if (m instanceof Bottleneck) units.add(m.units.conv3);
  }
  return units;
}
