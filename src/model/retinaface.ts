// RetinaFace (models/retinaface.py, class RetinaFace) in phase 'test': body -> FPN -> SSH x3 ->
// per-level heads, concatenated over levels (stride 8, 16, 32) along anchors, class scores
// softmaxed. At 640x640: loc (16800, 4), conf (16800, 2), landms (16800, 10).
import type { Backend } from '../backend.js';
import { tensor, type Tensor } from '../tensor.js';
import { CONFIGS, type Arch } from './config.js';
import { FPN } from './fpn.js';
import { Forward, type TapSelection } from './forward.js';
import { Head } from './heads.js';
import { MobileNetV1 } from './mobilenet_v1.js';
import { assignPaths, loadStateDict, Module, parameterShapes, Sequential } from './modules.js';
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
    const c = this.body.forward(f, x);
    const fpn = this.fpn.forward(f, c);
    f.release(...c.filter((t) => !fpn.includes(t)));
    const features = [this.ssh1.forward(f, fpn[0]), this.ssh2.forward(f, fpn[1]), this.ssh3.forward(f, fpn[2])];
    f.release(...fpn);
    const level = (heads: Sequential<Head>) => {
      const rows = features.map((feature, i) => heads.at(i).forward(f, feature));
      const all = be.catRows(rows);
      f.release(...rows);
      return all;
    };
    const loc = f.out('loc', level(this.BboxHead));
    const logits = level(this.ClassHead);
    const conf = f.out('conf', be.softmax(logits));
    f.release(logits);
    const landms = f.out('landms', level(this.LandmarkHead));
    f.release(...features);
    return { loc, conf, landms };
  }
}

export function buildRetinaFace(arch: Arch, weights?: Map<string, Tensor>, source = '<weights>'): RetinaFace {
  const model = new RetinaFace(arch);
  if (weights !== undefined) loadStateDict(model, weights, source, `the ${arch} architecture`);
  return model;
}

export interface NetworkOutput {
  loc: Tensor;
  conf: Tensor;
  landms: Tensor;
  /** The observed module outputs, by PyTorch path. */
  taps: Map<string, Tensor>;
}

/** The network input (3, H, W) as a writer: fills `dst` (zeroed or not) with the values. */
export interface InputWriter {
  shape: readonly [3, number, number];
  write(dst: Float32Array): void;
}

/** Puts the input on the backend: written in place where the backend allows (uploadWith), else through a Tensor. */
export function uploadInput<T>(be: Backend<T>, input: InputWriter): T {
  if (be.uploadWith !== undefined) return be.uploadWith(input.shape, (dst) => input.write(dst));
  const t = tensor([...input.shape]);
  input.write(t.data);
  return be.upload(t);
}

/** One forward pass on a prepared backend: input (3, H, W) BGR minus the means. */
export async function runNetwork<T>(be: Backend<T>, model: RetinaFace, input: Tensor, taps?: TapSelection): Promise<NetworkOutput> {
  return runUploaded(be, model, be.upload(input), taps);
}

/** runNetwork on an input already on the backend (uploadInput); the pass owns and releases it. */
export async function runUploaded<T>(be: Backend<T>, model: RetinaFace, x: T, taps?: TapSelection): Promise<NetworkOutput> {
  const f = new Forward(be, taps);
  f.input = x;
  const out = model.forward(f, x);
  if (f.input !== undefined) f.release(x); // not consumed by the first layer
  const [loc, conf, landms] = await Promise.all([be.read(out.loc), be.read(out.conf), be.read(out.landms)]);
  f.release(out.loc, out.conf, out.landms);
  const observed = new Map<string, Tensor>();
  for (const [k, v] of f.taps) observed.set(k, await v);
  return { loc, conf, landms, taps: observed };
}

/**
 * Every state-dict key of `arch` with its shape, in registration order: the walk of the module
 * tree (num_batches_tracked is not a parameter here; the checkpoint reader drops it).
 */
export function expectedShapes(arch: Arch): Map<string, number[]> {
  return parameterShapes(new RetinaFace(arch));
}
