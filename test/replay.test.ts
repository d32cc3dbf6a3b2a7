// cpu-simd's recorded passes (src/backends/simd_replay.ts): a replayed pass gives the walked
// pass's outputs bit for bit (the same tasks on the same blocks), is used only where the input and
// the arena are where the recording started, and a pass is kept only when replaying it would do
// everything the walk did.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import { netEffect } from '../src/backends/simd_replay.js';
import { JOURNAL_RELEASE, JOURNAL_VIEW } from '../src/wasm/arena.js';
import { maxPool2dNaive } from '../src/ops/max_pool2d.cpu.js';
import { buildRetinaFace, type RetinaFace } from '../src/model/retinaface.js';
import { runNetwork, type NetworkOutput } from '../src/model/run.js';
import { randomizeModel } from '../src/harness/random_model.js';
import { randomTensor } from '../src/harness/random.js';
import type { Tensor } from '../src/tensor.js';
import { CpuBackend } from '../src/backends/cpu.js';
import { TOLERANCES } from '../src/harness/tolerances.js';
import { assertClose } from './helpers/compare.js';

/** The first output value that differs (Object.is: -0 and NaN count), as a message, or null. */
function firstDifference(a: NetworkOutput, b: NetworkOutput): string | null {
  for (const name of ['loc', 'conf', 'landms'] as const) {
    const x = a[name].data, y = b[name].data;
    if (x.length !== y.length) return `${name}: ${x.length} values against ${y.length}`;
    const i = x.findIndex((v, j) => !Object.is(v, y[j]));
    if (i >= 0) return `${name}[${i}]: ${x[i]} replayed, ${y[i]} walked`;
  }
  return null;
}

/**
 * Passes at these sizes, each on new input values, on a backend that replays and one that always
 * walks: the outputs bit for bit, and the arena left in the same state after every pass. Returns
 * the replaying one's `passes` after each, as [kept, replayed].
 */
async function compare(model: RetinaFace, threads: number, sizes: [number, number][], seed: number, be = new CpuSimdBackend({ threads })): Promise<[number, number][]> {
  const walker = new CpuSimdBackend({ threads, replay: false });
  await be.prepare(model);
  await walker.prepare(model);
  const counts: [number, number][] = [];
  for (const [i, [h, w]] of sizes.entries()) {
    const x = randomTensor([3, h, w], seed + i, -120, 150);
    const diff = firstDifference(await runNetwork(be, model, x), await runNetwork(walker, model, x));
    assert.is(diff, null, `pass ${i + 1} (${h}x${w}, ${threads} thread(s)): ${diff}`);
    assert.is(be.arenaState, walker.arenaState, `pass ${i + 1} (${h}x${w}, ${threads} thread(s)): the arena after it`);
    counts.push([be.passes.kept, be.passes.replayed]);
  }
  assert.equal(walker.passes, { replayed: 0, kept: 0 }, 'replay: false never records');
  be.dispose();
  walker.dispose();
  return counts;
}

test('cpu-simd replays a recorded mobile0.25 pass bit for bit (1 and 2 threads), only at the size and arena state it was recorded in', async () => {
  const model = buildRetinaFace('mobile0.25');
  randomizeModel(model, 21);
  for (const threads of [1, 2]) {
    const counts = await compare(model, threads, [[75, 53], [75, 53], [75, 53], [75, 53], [40, 61], [75, 53], [75, 53], [75, 53]], 100);
    // Pass 1 at a size makes the FPN's nearest index maps, which stay: not kept (replaying it would
    // allocate them again). Pass 2 is kept, 3 and 4 replay it. 40x61 walks (another size), and is
    // not kept (its own maps); back at 75x53 the arena holds 40x61's maps: pass 6 records, 7 and 8 replay.
    assert.equal(counts, [[0, 0], [1, 0], [1, 1], [1, 2], [1, 2], [2, 2], [2, 3], [2, 4]], `${threads} thread(s)`);
  }
});

test('cpu-simd keeps a recording per starting point: passes of two sizes in turn both replay', async () => {
  const model = buildRetinaFace('mobile0.25');
  randomizeModel(model, 25);
  const sizes = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? [75, 53] : [40, 61]) as [number, number]);
  // Passes 1 and 2 make each size's nearest maps (not kept); 3 and 4 start from states that recur
  // from then on, and are kept; every later pass replays one of the two.
  assert.equal(await compare(model, 2, sizes, 600), [[0, 0], [0, 0], [1, 0], [2, 0], [2, 1], [2, 2], [2, 3], [2, 4], [2, 5], [2, 6]]);
});

test('cpu-simd replays a ResNet-50 pass bit for bit (2 threads): max pooling, Strassen, the residual adds, Winograd in two tasks', async () => {
  const model = buildRetinaFace('resnet50');
  randomizeModel(model, 22);
  const be = new CpuSimdBackend({ threads: 2 });
  const counts = await compare(model, 2, Array.from({ length: 6 }, () => [48, 40] as [number, number]), 200, be);
  assert.ok(counts.at(-1)![1] >= 2, `replayed ${counts.at(-1)![1]} of 6 passes`);
  // The tasks a replayed pass posts (the pool's profile records them as any pass's).
  await be.prepare(model);
  const x = randomTensor([3, 48, 40], 250, -120, 150);
  for (let i = 0; i < 4; i++) await runNetwork(be, model, x);
  const before = be.passes.replayed;
  be.startProfile();
  await runNetwork(be, model, x);
  const names = new Set(be.stopProfile().map((r) => r.name));
  assert.is(be.passes.replayed, before + 1, 'the profiled pass replayed');
  for (const name of ['maxPool2d', 'strassen', 'dense', 'winogradInput', 'winogradGemm', 'softmax']) assert.ok(names.has(name), `no ${name} task in [${[...names].join(', ')}]`);
  be.dispose();
});

test('cpu-simd: a pass with taps walks (and its outputs are the replayed ones\' bit for bit); prepare() drops the recording', async () => {
  const model = buildRetinaFace('mobile0.25');
  randomizeModel(model, 23);
  const be = new CpuSimdBackend({ threads: 2 });
  await be.prepare(model);
  const x = randomTensor([3, 33, 47], 300, -120, 150);
  for (let i = 0; i < 3; i++) await runNetwork(be, model, x);
  assert.equal(be.passes, { replayed: 1, kept: 1 });
  const replayed = await runNetwork(be, model, x);
  const tapped = await runNetwork(be, model, x, ['fpn.output1']);
  assert.equal(be.passes, { replayed: 2, kept: 1 }, 'the pass with taps walked');
  assert.equal(tapped.taps.get('fpn.output1')?.shape, [64, 5, 6]);
  assert.is(firstDifference(replayed, tapped), null);
  await be.prepare(model);
  await runNetwork(be, model, x);
  assert.equal(be.passes, { replayed: 0, kept: 0 }, 'after prepare(), the first pass walks and is not kept (it makes the nearest maps)');
  be.dispose();
});

test('cpu-simd pass(): a walk that computes outside the pool is not kept; one of pool tasks is, and its replay computes on the new input; a walk whose outputs are views of one block is not kept', async () => {
  const model = buildRetinaFace('resnet50'); // prepare() needs a model; the walks below use none of it
  randomizeModel(model, 24);
  const be = new CpuSimdBackend({ threads: 2 });
  await be.prepare(model);
  // 3x3 stride 2 pad 1: the SIMD max pool (a pool task); 2x2 stride 2: the reference loops in JS.
  const run = async (kernel: number, stride: number, padding: number, seed: number): Promise<Tensor> => {
    const input = randomTensor([5, 9, 11], seed);
    const x = be.upload(input);
    const [y, a, b] = be.pass!(model, x, () => {
      const outs: [Tensor, Tensor, Tensor] = [be.maxPool2d(x, kernel, stride, padding), be.maxPool2d(x, kernel, stride, padding), be.maxPool2d(x, kernel, stride, padding)];
      be.release(x);
      return outs;
    });
    const got = await be.read(y);
    for (const t of [y, a, b]) be.release(t);
    assert.equal([...got.data], [...maxPool2dNaive(input, kernel, stride, padding).data], `max pool ${kernel}x${kernel} stride ${stride}, input ${seed}`);
    return got;
  };
  for (let i = 0; i < 3; i++) await run(2, 2, 0, 400 + i);
  assert.equal(be.passes, { replayed: 0, kept: 0 }, 'a walk with JS max pooling is never kept');
  for (let i = 0; i < 3; i++) await run(3, 2, 1, 500 + i);
  assert.equal(be.passes, { replayed: 2, kept: 1 }, 'a walk of pool tasks only: kept, then replayed');
  be.dispose();
  // A level's three heads run as one 1x1 into one block, each output a view of it: a replay would
  // hand out blocks of their own, so such a walk is not kept (and each pass computes them anew).
  const mobile = buildRetinaFace('mobile0.25');
  randomizeModel(mobile, 26);
  const heads = new CpuSimdBackend({ threads: 2 });
  await heads.prepare(mobile);
  const naive = new CpuBackend('naive');
  await naive.prepare(mobile);
  const units = [mobile.BboxHead.at(0).unit, mobile.ClassHead.at(0).unit, mobile.LandmarkHead.at(0).unit];
  for (let i = 0; i < 3; i++) {
    const input = randomTensor([64, 6, 5], 700 + i);
    const x = heads.upload(input);
    const outs = heads.pass!(mobile, x, () => {
      const ys = units.map((u) => heads.convBnAct(x, u));
      heads.release(x);
      return [ys[0]!, ys[1]!, ys[2]!];
    });
    for (const [k, y] of outs.entries()) assertClose(`head ${k}, pass ${i + 1}`, await heads.read(y), naive.convBnAct(input, units[k]!), TOLERANCES['cpu-simd']);
    for (const y of outs) heads.release(y);
  }
  assert.equal(heads.passes, { replayed: 0, kept: 0 }, 'outputs that are views are never kept');
  heads.dispose();
});

test('netEffect: a journal is kept only if no view went to JavaScript, it frees the input\'s block and leaves exactly the outputs allocated', () => {
  const R = JOURNAL_RELEASE;
  // (nFloats, offset): an allocation; (R, offset): a release; (JOURNAL_VIEW, offset): a view.
  const journal = [10, 1000, 20, 2000, R, 64, R, 1000, 30, 1000];
  assert.ok(netEffect(journal, 64, [2000, 1000]));
  assert.not.ok(netEffect(journal, 64, [2000]), 'a block left allocated that is not an output (1000)');
  assert.not.ok(netEffect(journal, 128, [2000, 1000]), 'freed a block other than the input');
  assert.not.ok(netEffect([10, 1000], 64, [1000]), 'the input not freed');
  assert.not.ok(netEffect([...journal, R, 3000], 64, [2000, 1000]), 'freed a block from before besides the input');
  assert.not.ok(netEffect([...journal.slice(0, 4), JOURNAL_VIEW, 2000, ...journal.slice(4)], 64, [2000, 1000]), 'a view of the memory went to JavaScript');
});

test.run();
