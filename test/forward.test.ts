// The forward pass's handle discipline (src/model/schedule.ts frees by the traced op list), on a
// backend that records every call: each handle the backend hands out is released exactly once,
// right after the op that reads it last (nothing else runs in between), never before: the
// uploaded input as soon as the first layer has read it, and a conv_dw block's input as soon as
// its depthwise half has read it (so that the pointwise output reuses that storage: cpu-simd's
// arena peak at 2048x1150 fell from 101 to 57 MB).
// Values are not checked here (test/network.test.ts compares them with PyTorch).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CpuBackend } from '../src/backends/cpu.js';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import { RetinaFaceDetector } from '../src/detector.js';
import { namedParameters, type ConvBnAct } from '../src/model/modules.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork, runUploaded, uploadInput } from '../src/model/run.js';
import { Scheduled } from '../src/model/schedule.js';
import { planFor } from '../src/model/trace.js';
import type { Arch } from '../src/model/config.js';
import type { Slope } from '../src/ops/activation.js';
import { tensor, type Tensor } from '../src/tensor.js';
import { fillRandomWeights } from '../src/harness/weights.js';
import { randomTensor } from '../src/harness/random.js';

/** cpu-fast whose every returned tensor is a fresh object, with a log of calls and releases. */
class Recording extends CpuBackend {
  readonly log: string[] = [];
  readonly live = new Set<Tensor>();
  readonly names = new Map<Tensor, string>();
  /** where in the log each live handle was last read */
  private readonly lastRead = new Map<Tensor, number>();
  private n = 0;
  private own(t: Tensor, what: string): Tensor {
    const h = { shape: [...t.shape], data: t.data };
    this.live.add(h);
    this.names.set(h, `${what}#${this.n++}`);
    return h;
  }
  private use(x: Tensor): void {
    if (!this.live.has(x)) throw new Error(`${this.names.get(x) ?? 'an unknown tensor'} used after release`);
    this.lastRead.set(x, this.log.length);
  }
  override upload(x: Tensor): Tensor {
    this.log.push('upload');
    return this.own(x, 'input');
  }
  override release(x: Tensor): void {
    if (!this.live.delete(x)) throw new Error(`${this.names.get(x) ?? 'an unknown tensor'} released twice`);
    // Released as early as possible: since the op that read it last, only releases ran (the outputs: after the pass).
    const since = this.log.slice(this.lastRead.get(x) ?? this.log.length).filter((l) => !l.startsWith('release') && !l.startsWith('read'));
    if (since.length > 1) throw new Error(`${this.names.get(x)} released late, after ${since.slice(1).join(', ')}`);
    this.log.push(`release ${this.names.get(x)!.split('#')[0]}`);
  }
  override convBnAct(x: Tensor, layer: ConvBnAct): Tensor {
    this.use(x);
    this.log.push(`conv ${layer.conv.path}`);
    return this.own(super.convBnAct(x, layer), layer.conv.path);
  }
  override add(a: Tensor, b: Tensor, slope: Slope): Tensor { this.use(a); this.use(b); this.log.push('add'); return this.own(super.add(a, b, slope), 'add'); }
  override interpolateNearest(x: Tensor, h: number, w: number): Tensor { this.use(x); this.log.push('up'); return this.own(super.interpolateNearest(x, h, w), 'up'); }
  override cat(xs: Tensor[], slope: Slope): Tensor { xs.forEach((x) => this.use(x)); this.log.push('cat'); return this.own(super.cat(xs, slope), 'cat'); }
  override maxPool2d(x: Tensor, k: number, s: number, p: number): Tensor { this.use(x); this.log.push('pool'); return this.own(super.maxPool2d(x, k, s, p), 'pool'); }
  override headPermute(x: Tensor, k: number): Tensor { this.use(x); this.log.push('rows'); return this.own(super.headPermute(x, k), 'rows'); }
  override catRows(xs: Tensor[]): Tensor { xs.forEach((x) => this.use(x)); this.log.push('catRows'); return this.own(super.catRows(xs), 'catRows'); }
  override softmax(x: Tensor): Tensor { this.use(x); this.log.push('softmax'); return this.own(super.softmax(x), 'softmax'); }
  override async read(x: Tensor): Promise<Tensor> { this.use(x); this.log.push('read'); return super.read(x); }
}

async function pass(arch: Arch): Promise<Recording> {
  const model = buildRetinaFace(arch);
  fillRandomWeights(model, 5, true);
  const be = new Recording('fast');
  await be.prepare(model);
  await runNetwork(be, model, randomTensor([3, 40, 56], 6, -100, 100));
  return be;
}

test('mobile0.25: every handle released once; the input right after the stem; a conv_dw input after its depthwise conv', async () => {
  const be = await pass('mobile0.25');
  assert.is(be.live.size, 0, `left live: ${[...be.live].map((t) => be.names.get(t)).join(', ')}`);
  const log = be.log;
  assert.equal(log.slice(0, 3), ['upload', 'conv body.stage1.0.0', 'release input']);
  // body.stage1.1 (conv_dw 8 -> 16): depthwise, then its input (the stem's output) released, then pointwise.
  const dw = log.indexOf('conv body.stage1.1.0');
  assert.equal(log.slice(dw, dw + 3), ['conv body.stage1.1.0', 'release body.stage1.0.0', 'conv body.stage1.1.3']);
});

test('resnet50: every handle released once; the input right after the 7x7 stem', async () => {
  const be = await pass('resnet50');
  assert.is(be.live.size, 0, `left live: ${[...be.live].map((t) => be.names.get(t)).join(', ')}`);
  assert.equal(be.log.slice(0, 3), ['upload', 'conv body.conv1', 'release input']);
});

test('uploadInput writes into the view inputView hands out when the backend has it, else through a Tensor and upload()', async () => {
  const write = (dst: Float32Array) => dst.forEach((_, i) => { dst[i] = i; });
  const plain = new Recording('fast');
  const x = uploadInput(plain, { shape: [3, 2, 2], write });
  assert.equal([...x.data], Array.from({ length: 12 }, (_, i) => i));
  assert.equal(plain.log, ['upload']);
  const direct = new (class extends Recording {
    inputView(shape: readonly number[]): { data: Float32Array; handle: Tensor } {
      this.log.push('inputView');
      const t = tensor([...shape]);
      return { data: t.data, handle: t };
    }
  })('fast');
  const y = uploadInput(direct, { shape: [3, 2, 2], write });
  assert.equal([...y.data], Array.from({ length: 12 }, (_, i) => i));
  assert.equal(direct.log, ['inputView']);
  // runUploaded gives the same outputs as runNetwork on the same input.
  const model = buildRetinaFace('mobile0.25');
  fillRandomWeights(model, 5, true);
  const be = new CpuBackend('fast');
  await be.prepare(model);
  const input = randomTensor([3, 24, 40], 7, -100, 100);
  const a = await runNetwork(be, model, input);
  const b = await runUploaded(be, model, uploadInput(be, { shape: [3, 24, 40], write: (dst) => dst.set(input.data) }));
  assert.equal([...b.conf.data], [...a.conf.data]);
  assert.equal([...b.loc.data], [...a.loc.data]);
});

test('the plan: traced once per input size on the ShapeBackend; a pass that strays from it is refused', async () => {
  const model = buildRetinaFace('mobile0.25');
  const a = planFor(model, 40, 56);
  assert.is(planFor(model, 40, 56), a, 'cached per size');
  assert.is.not(planFor(model, 48, 56), a);
  // mobile0.25: 27 body convs, 3 lateral + 2 merge, 3 x 5 SSH, 9 heads; 2 upsamplings and 2 adds; 3 cats;
  // 9 permutes, 3 catRows, 1 softmax.
  const count = (op: string) => a.ops.filter((o) => o.op === op).length;
  assert.equal([count('convBnAct'), count('interpolateNearest'), count('add'), count('cat'), count('headPermute'), count('catRows'), count('softmax')],
    [27 + 5 + 15 + 9, 2, 2, 3, 9, 3, 1]);
  // Every value but the three outputs is freed exactly once, after its last reader.
  const freed = a.frees.flat();
  assert.is(new Set(freed).size, freed.length);
  assert.is(freed.length + a.outputs.length, a.ops.length + 1);
  // A backend call the trace does not have (here: a second softmax) is refused, naming the op.
  const be = new CpuBackend('fast');
  const run = new Scheduled(be, a);
  const x = run.adopt(be.upload(tensor([3, 40, 56])));
  assert.throws(() => run.softmax(x), /op 0 \(softmax\) differs from the traced forward pass \(convBnAct\)/);
  run.end();
});


test('runUploaded reads into the caller\'s arrays where the backend can (readInto): the values of fresh reads, in those arrays', async () => {
  const model = buildRetinaFace('mobile0.25');
  fillRandomWeights(model, 5, true);
  const input = randomTensor([3, 40, 56], 8, -100, 100);
  const given = new Map<string, Float32Array>();
  const into = (name: string, length: number) => {
    const a = new Float32Array(length).fill(NaN); // every value must be written
    given.set(name, a);
    return a;
  };
  const simd = new CpuSimdBackend({ threads: 1 });
  await simd.prepare(model);
  const fresh = await runNetwork(simd, model, input);
  const reused = await runUploaded(simd, model, simd.upload(input), undefined, into);
  for (const k of ['loc', 'conf', 'landms'] as const) {
    assert.ok(reused[k].data === given.get(k), `${k}: the caller's array`);
    assert.equal(reused[k].shape, fresh[k].shape);
    assert.equal([...reused[k].data], [...fresh[k].data], k);
  }
  simd.dispose();
  // a backend without readInto reads fresh arrays and never asks for one
  const plain = new CpuBackend('fast');
  await plain.prepare(model);
  given.clear();
  const out = await runUploaded(plain, model, plain.upload(input), undefined, into);
  assert.is(given.size, 0);
  assert.equal([...out.conf.data], [...(await runNetwork(plain, model, input)).conf.data]);
});

test('detect() reads the outputs into arrays it keeps: the faces of detectDetailed, call after call and size after size', async () => {
  const model = buildRetinaFace('mobile0.25');
  fillRandomWeights(model, 6, true);
  const d = await RetinaFaceDetector.fromTensors(new Map(namedParameters(model)), { arch: 'mobile0.25', backend: 'cpu-simd', threads: 1 });
  const image = (width: number, height: number, seed: number) => {
    const r = randomTensor([width * height * 3], seed, 0, 255);
    return { width, height, data: Uint8Array.from(r.data, (v) => Math.round(v)) };
  };
  const opts = { visThreshold: 0 };
  for (const [w, h, seed] of [[64, 48, 1], [64, 48, 2], [96, 80, 3], [64, 48, 1]] as const) {
    const img = image(w, h, seed);
    const want = (await d.detectDetailed(img, opts)).faces;
    assert.ok(want.length > 0, `${w}x${h}: some candidates to compare`);
    assert.equal(await d.detect(img, opts), want, `${w}x${h} seed ${seed}`);
  }
  d.dispose();
});

test.run();
