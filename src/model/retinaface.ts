// RetinaFace (models/retinaface.py, class RetinaFace) in phase 'test': body -> FPN -> SSH x3 ->
// per-level heads, concatenated over levels (stride 8, 16, 32) along anchors, class scores
// softmaxed. At 640x640: loc (16800, 4), conf (16800, 2), landms (16800, 10).
import type { Tensor } from '../tensor.js';
import { CONFIGS, type Arch } from './config.js';
import { FPN } from './fpn.js';
import type { Forward } from './forward.js';
import { Head } from './heads.js';
import { MobileNetV1 } from './mobilenet_v1.js';
import { assignPaths, bindStateDict, Module, parameterShapes, Sequential } from './modules.js';
import { checkStateDict } from './state_dict.js';
import { ResNet50 } from './resnet50.js';
import { SSH } from './ssh.js';

export class RetinaFace extends Module {
  readonly body: MobileNetV1 | ResNet50;
  readonly fpn: FPN;
  readonly ssh1: SSH;
  readonly ssh2: SSH;
  readonly ssh3: SSH;
  readonly ClassHead: Sequential<Head>;
  readonly BboxHead: Sequential<Head>;
  readonly LandmarkHead: Sequential<Head>;

  constructor(readonly arch: Arch) {
    super();
    const cfg = CONFIGS[arch];
    const out = cfg.out_channel;
    this.body = arch === 'mobile0.25' ? new MobileNetV1() : new ResNet50();
    this.fpn = new FPN(cfg.in_channels_list, out);
    this.ssh1 = new SSH(out, out);
    this.ssh2 = new SSH(out, out);
    this.ssh3 = new SSH(out, out);
    this.ClassHead = new Sequential(new Head(out, 2), new Head(out, 2), new Head(out, 2));
    this.BboxHead = new Sequential(new Head(out, 4), new Head(out, 4), new Head(out, 4));
    this.LandmarkHead = new Sequential(new Head(out, 10), new Head(out, 10), new Head(out, 10));
    assignPaths(this);
  }

  forward<T>(f: Forward<T>, x: T): { loc: T; conf: T; landms: T } {
    const be = f.be;
    const out = this.body.forward(f, x);
    const fpn = this.fpn.forward(f, out);
    const features = [this.ssh1.forward(f, fpn[0]), this.ssh2.forward(f, fpn[1]), this.ssh3.forward(f, fpn[2])];
    // torch.cat([self.BboxHead[i](feature) for i, feature in enumerate(features)], dim=1), and so on
    const level = (heads: Sequential<Head>) => be.catRows(features.map((feature, i) => heads.at(i).forward(f, feature)));
    const loc = f.out('loc', level(this.BboxHead));
    const conf = f.out('conf', be.softmax(level(this.ClassHead))); // F.softmax(classifications, dim=-1)
    const landms = f.out('landms', level(this.LandmarkHead));
    return { loc, conf, landms };
  }
}

/** State dicts already checked against an architecture (by checkWeights): building from one does not check again. */
const verified = new WeakMap<Map<string, Tensor>, Arch>();

/**
 * The strict check (as load_state_dict(strict=True): every key present with its shape, none
 * unexpected, all named in one error), done once: returns the tensors in the architecture's order,
 * marked so that buildRetinaFace binds them without checking again. `what` names the architecture in the message.
 */
export function checkWeights(arch: Arch, tensors: Map<string, Tensor>, file: string, what = `the ${arch} architecture`): Map<string, Tensor> {
  if (verified.get(tensors) === arch) return tensors;
  const expected = expectedShapes(arch);
  checkStateDict(tensors, expected, file, what);
  const ordered = new Map([...expected.keys()].map((k) => [k, tensors.get(k)!]));
  verified.set(ordered, arch);
  return ordered;
}

export function buildRetinaFace(arch: Arch, weights?: Map<string, Tensor>, source = '<weights>'): RetinaFace {
  const model = new RetinaFace(arch);
  if (weights !== undefined) bindStateDict(model, checkWeights(arch, weights, source));
  return model;
}

/**
 * Every state-dict key of `arch` with its shape, in registration order: the walk of the module
 * tree (num_batches_tracked is not a parameter here; the checkpoint reader drops it).
 */
export function expectedShapes(arch: Arch): Map<string, number[]> {
  return parameterShapes(new RetinaFace(arch));
}
