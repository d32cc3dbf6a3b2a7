// Tier 1 for the WebAssembly SIMD path: the emitter against hand-assembled bytes and by running
// tiny generated functions; every SIMD kernel called directly with its work split as 1, 2 and 3
// threads would split it, against the naive loops over a grid of shapes (odd sizes, stride 2,
// 1..2048 channels, 1x1 images, channel counts not a multiple of 4), Winograd's error bound; the
// arena; the whole network; the thread pool's profile. The cpu-simd backend on the harness's op
// grid: test/backend_ops.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { batchNorm2dNaive, foldBatchNorm } from '../src/ops/batch_norm2d.cpu.js';
import { conv2dNaive } from '../src/ops/conv2d.cpu.js';
import { conv2dOutputShape } from '../src/ops/conv2d.js';
import { denseConvPart, denseScratchBytes } from '../src/ops/simd/dense.js';
import { STRASSEN_MIN_CHANNELS, strassenApplies, strassenConvPart, strassenScratchBytes, strassenWeights } from '../src/ops/simd/strassen.js';
import { depthwisePart, depthwisePlaneFloats } from '../src/ops/simd/depthwise.js';
import { dwPwBandRows, dwPwPart, dwPwScratchBytes } from '../src/ops/simd/dwpw.js';
import { elementwisePart, headPermutePart } from '../src/ops/simd/elementwise.js';
import { maxPool2dPart } from '../src/ops/simd/max_pool2d.js';
import { share } from '../src/ops/simd/common.js';
import { maxPool2dNaive } from '../src/ops/max_pool2d.cpu.js';
import { GEMM_K_BLOCK, GEMM_MR, packDenseWeights, packedDenseFloats, ROW_MAJOR_BLOCK } from '../src/ops/simd/gemm.js';
import { compileSimdModule, SIMD_MEMORY } from '../src/ops/simd/module.js';
import { RetinaFaceError } from '../src/errors.js';
import {
  WINO2, WINO4, winogradGemmPart, winogradInputPart, winogradPart, winogradScratchBytes, winogradTwoTasks, winogradTwoTaskScratchBytes, winogradVFloats,
  winogradWeights, type WinogradTile,
} from '../src/ops/simd/winograd.js';
import { addNaive } from '../src/ops/add.cpu.js';
import { headPermuteNaive } from '../src/ops/head_permute.cpu.js';
import { softmaxNaive } from '../src/ops/softmax.cpu.js';
import { leakyReluNaive } from '../src/ops/leaky_relu.cpu.js';
import { standaloneKernels } from '../src/harness/simd_kernels.js';
import { Arena } from '../src/wasm/arena.js';
import { Code, encodeName, ModuleBuilder, sleb128, uleb128 } from '../src/wasm/emitter.js';
import { numel, type Tensor } from '../src/tensor.js';
import { CpuBackend } from '../src/backends/cpu.js';
import { CpuSimdBackend, PARALLEL_MIN_MACS, SOFTMAX_PARALLEL_MIN_FLOATS, WINOGRAD4_MIN_CHANNELS, winogradTileFor } from '../src/backends/cpu_simd.js';
import { nodeHost } from '../src/backends/simd_host.node.js';
import { PIECES_PER_THREAD, PROFILE_TASKS } from '../src/backends/simd_pool.js';
import { anatomy } from '../src/model/anatomy.js';
import { Forward } from '../src/model/forward.js';
import { assignPaths } from '../src/model/modules.js';
import { Bottleneck } from '../src/model/resnet50.js';
import type { ConvDw } from '../src/model/blocks.js';
import type { MobileNetV1 } from '../src/model/mobilenet_v1.js';
import { buildRetinaFace, type RetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { randomizeModel } from '../src/harness/random_model.js';
import { assertClose, type Tolerance } from './helpers/compare.js';
import { randomTensor } from '../src/harness/random.js';
import { TOLERANCES } from '../src/harness/tolerances.js';

/** SIMD kernels against the naive loops: cpu-simd's tolerance, declared and justified in src/harness/tolerances.ts. */
const SIMD_TWIN: Tolerance = TOLERANCES['cpu-simd'];

// --- emitter --------------------------------------------------------------------------------

test('LEB128: the specification examples and the edges of the ranges', () => {
  assert.equal(uleb128(0), [0x00]);
  assert.equal(uleb128(127), [0x7f]);
  assert.equal(uleb128(128), [0x80, 0x01]);
  assert.equal(uleb128(624485), [0xe5, 0x8e, 0x26]);
  assert.equal(uleb128(0xffffffff), [0xff, 0xff, 0xff, 0xff, 0x0f]);
  assert.equal(sleb128(0), [0x00]);
  assert.equal(sleb128(63), [0x3f]);
  assert.equal(sleb128(64), [0xc0, 0x00]);
  assert.equal(sleb128(-1), [0x7f]);
  assert.equal(sleb128(-64), [0x40]);
  assert.equal(sleb128(-65), [0xbf, 0x7f]);
  assert.equal(sleb128(-123456), [0xc0, 0xbb, 0x78]);
  assert.equal(encodeName('env'), [3, 0x65, 0x6e, 0x76]);
  assert.throws(() => uleb128(-1));
});

test('module bytes: (func (export "f") (result i32) i32.const 42) assembled by hand', () => {
  const c = new Code([], ['i32']);
  c.i32Const(42);
  const m = new ModuleBuilder();
  m.addFunction('f', c);
  const expected = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type section: 1 type, func () -> (i32)
    0x03, 0x02, 0x01, 0x00, // function section: 1 function of type 0
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export section: "f" -> func 0
    0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b, // code: size 4, no locals, i32.const 42, end
  ];
  assert.equal([...m.toBytes()], expected);
});

test('module bytes: imported shared memory limits and SIMD opcodes', () => {
  const m = new ModuleBuilder({ memory: { initial: 1, maximum: 2, shared: true } });
  const c = new Code(['i32']);
  c.localGet(0).localGet(0).v128Load(16).v128Store();
  m.addFunction('g', c);
  const bytes = [...m.toBytes()];
  // import "env" "memory" (memory flags 3 = max + shared, min 1, max 2)
  const imp = [0x02, 0x10, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x03, 0x01, 0x02];
  assert.ok(bytes.join(',').includes(imp.join(',')), 'import section');
  // local.get 0, local.get 0, v128.load align 4 offset 16, v128.store align 4 offset 0, end
  const body = [0x20, 0x00, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x10, 0xfd, 0x0b, 0x04, 0x00, 0x0b];
  assert.ok(bytes.join(',').includes(body.join(',')), 'simd body');
  assert.ok(WebAssembly.validate(Uint8Array.from(bytes)));
});

test('generated functions run: loops, locals, f32 and f32x4 arithmetic, lane stores', async () => {
  const m = new ModuleBuilder({ memory: { initial: 1 } });
  // sum(n) = 0 + 1 + ... + (n - 1) with forRange
  const sum = new Code(['i32'], ['i32']);
  const i = sum.local('i32'), s = sum.local('i32');
  sum.forRange(i, () => sum.i32Const(0), () => sum.localGet(0), 1, () => {
    sum.localGet(s).localGet(i).i32Add().localSet(s);
  });
  sum.localGet(s);
  m.addFunction('sum', sum);
  // axpy4(dst, a, x, y): dst[0..4) = a * x[0..4) + y[0..4), then dst[4] = lane 2 via store32_lane
  const axpy = new Code(['i32', 'f32', 'i32', 'i32']);
  const v = axpy.local('v128');
  axpy.localGet(1).f32x4Splat().localGet(2).v128Load().f32x4Mul().localGet(3).v128Load().f32x4Add().localSet(v);
  axpy.localGet(0).localGet(v).v128Store();
  axpy.localGet(0).localGet(v).v128Store32Lane(2, 16);
  m.addFunction('axpy4', axpy);
  // even(dst, p): dst = lanes 0, 2, 4, 6 of the 8 floats at p (the stride-2 shuffle)
  const even = new Code(['i32', 'i32']);
  even.localGet(0).localGet(1).v128Load().localGet(1).v128Load(16).f32x4Shuffle(0, 2, 4, 6).v128Store();
  m.addFunction('even', even);
  const memory = new WebAssembly.Memory({ initial: 1 });
  const { instance } = await WebAssembly.instantiate(await WebAssembly.compile(m.toBytes()), { env: { memory } }).then((instance) => ({ instance }));
  const e = instance.exports as { sum(n: number): number; axpy4(d: number, a: number, x: number, y: number): void; even(d: number, p: number): void };
  assert.is(e.sum(0), 0);
  assert.is(e.sum(10), 45);
  const f = new Float32Array(memory.buffer);
  f.set([1, 2, 3, 4], 16); // x at byte 64
  f.set([10, 20, 30, 40], 32); // y at byte 128
  e.axpy4(0, 0.5, 64, 128);
  assert.equal([...f.subarray(0, 5)], [10.5, 21, 31.5, 42, 31.5]);
  f.set([0, 1, 2, 3, 4, 5, 6, 7], 48);
  e.even(256, 192);
  assert.equal([...f.subarray(64, 68)], [0, 2, 4, 6]);
});

// --- kernels ----------------------------------------------------------------------------------

/**
 * The kernel module's two builds, each tested against the naive loops: multiply then add (plain
 * SIMD), and relaxed SIMD's relaxed_madd (fused on this CPU). The second needs relaxed SIMD,
 * which the backend's Node host turns on (V8's flag on Node 20): a test, not a skip, if it cannot.
 */
const BUILDS = [false, true] as const;
const WINOGRAD_TILES: WinogradTile[] = [2, 4];
/** Floats after a kernel's scratch, filled with CANARY_VALUE, that it must leave alone. */
const CANARY = 64, CANARY_VALUE = 12345.5;
const buildName = (fma: boolean) => (fma ? 'relaxed_madd build' : 'mul + add build');

async function kernels(fma: boolean) {
  if (fma) assert.ok(nodeHost.relaxedSimd?.(), 'relaxed SIMD (f32x4.relaxed_madd) is available, with V8\'s flag where needed');
  return standaloneKernels(fma);
}

const THREAD_SPLITS = [1, 2, 3];

/**
 * Runs a task's pieces as the pool cuts them for `threads` threads (simd_pool.ts
 * PIECES_PER_THREAD each; one thread: one piece), last piece first (the pool runs them in any
 * order), piece p on thread p mod threads's scratch.
 */
function runAllPieces(threads: number, part: (slot: number, piece: number, pieces: number) => void): void {
  const pieces = threads === 1 ? 1 : threads * PIECES_PER_THREAD;
  for (let p = pieces - 1; p >= 0; p--) part(p % threads, p, pieces);
}

test('share(): a task\'s pieces cover its items once, in whole grains, largest first', () => {
  for (const [n, grain] of [[1, 1], [7, 1], [8, 8], [100, 8], [101, 8], [1600, 8], [40, 2], [3, 16], [16800, 16]] as const) {
    for (const pieces of [1, 2, 3, 8, 12, 64]) {
      let next = 0, previous = Infinity;
      for (let piece = 0; piece < pieces; piece++) {
        const [lo, hi] = share(n, grain, piece, pieces);
        const where = `n ${n} grain ${grain} piece ${piece} of ${pieces}: [${lo}, ${hi})`;
        assert.is(lo, next, `${where} starts where the one before ended`);
        assert.ok(hi >= lo && (lo % grain === 0) && (hi % grain === 0 || hi === n), `${where}: whole grains`);
        // sizes in grains fall (ties and one grain of rounding up allowed)
        const units = Math.ceil(hi / grain) - lo / grain;
        assert.ok(units <= previous + 1, `${where}: ${units} grains after ${previous}`);
        previous = units;
        next = hi;
      }
      assert.is(next, n, `n ${n} grain ${grain} pieces ${pieces}: the pieces end at n`);
      if (pieces > 1 && Math.ceil(n / grain) >= 4 * pieces) {
        const first = share(n, grain, 0, pieces), last = share(n, grain, pieces - 1, pieces);
        assert.ok(last[1] - last[0] < first[1] - first[0], `n ${n} pieces ${pieces}: the last piece (${last[1] - last[0]}) smaller than the first (${first[1] - first[0]})`);
      }
    }
  }
});

// [C_in, C_out, k, stride, H, W]: shapes of both architectures plus edge cases.
const DENSE: [number, number, number, number, number, number][] = [
  [3, 8, 3, 2, 33, 17], // mobile0.25 stem, odd size
  [3, 64, 7, 2, 35, 29], // resnet50 stem
  [64, 64, 3, 1, 20, 13], // FPN merge / SSH
  [64, 32, 3, 1, 9, 23], // SSH conv3X3
  [16, 16, 3, 1, 11, 7], // SSH conv5X5_2 ...
  [256, 128, 3, 1, 7, 5], // resnet50 SSH conv3X3
  [128, 128, 3, 2, 9, 11], // Bottleneck conv2 with stride 2
  [8, 16, 1, 1, 5, 3], // conv_dw pointwise
  [64, 64, 1, 1, 40, 41], // conv_dw pointwise, several GEMM tiles
  [2048, 256, 1, 1, 3, 5], // FPN output3 of resnet50: 2048 channels
  [16, 128, 1, 1, 100, 83], // 1x1 on a map of several tiles
  [256, 512, 1, 2, 9, 7], // Bottleneck downsample, stride 2
  [64, 20, 1, 1, 6, 7], // LandmarkHead
  [64, 4, 1, 1, 1, 1], // ClassHead on a 1x1 map
  [5, 7, 3, 1, 1, 1], // 1x1 image, channels not a multiple of 4
  [1, 1, 3, 2, 2, 3],
  [6, 3, 3, 1, 4, 50], // a row longer than one micro-tile, 3 output channels
];

// [C_in, C_out, k, stride, H, W]: ResNet-50's dense convolutions that run by Strassen
// (strassenApplies), on maps whose tiles end mid-panel (odd pixel counts, fewer than 16, tiles of
// 1 to 15 pixels in a piece), and whole tiles.
const STRASSEN: [number, number, number, number, number, number][] = [
  [128, 128, 1, 1, 1, 1], // one pixel: the left half holds it, the right half is empty
  [256, 128, 1, 1, 5, 3], // 15 pixels: halves of 8 and 7
  [128, 512, 1, 1, 13, 11], // 143 pixels: the last tile's right half partial
  [1024, 256, 1, 1, 9, 11], // layer3 conv1 on a small map
  [512, 2048, 1, 1, 3, 5], // layer4 conv3
  [2048, 256, 1, 1, 7, 7], // FPN output3
  [130, 136, 1, 1, 40, 41], // channels not multiples of 16, several tiles of STRASSEN_MAX_TILE
  [128, 128, 3, 2, 17, 19], // layer2.0 conv2: 3x3 stride 2 through im2col
  [256, 512, 1, 2, 9, 7], // a downsample: 1x1 stride 2 through im2col
];

/**
 * A dense convolution kernel as the backend runs it: its weights packed, its per-thread scratch,
 * one piece. The one GEMM (dense.ts) and Strassen's seven products (strassen.ts) take the same
 * arguments (DenseConvArgs) and are checked by the same cases.
 */
interface DenseKernel {
  name: string;
  pack(w: Float32Array, cOut: number, k: number): Float32Array;
  scratchBytes(cIn: number, kSize: number, stride: number, pad: number): number;
  part: typeof denseConvPart;
}

const DENSE_KERNELS: [DenseKernel, [number, number, number, number, number, number][], number][] = [
  [{
    name: 'dense SIMD convolution (GEMM, im2col)',
    pack: (w, cOut, k) => { const out = new Float32Array(packedDenseFloats(cOut, k)); packDenseWeights(w, cOut, out); return out; },
    scratchBytes: (cIn, kSize, stride) => denseScratchBytes(cIn, kSize, stride),
    part: denseConvPart,
  }, DENSE, 300],
  [{
    name: 'dense convolution by Strassen (im2col or the input in place, packStrassen, gemmStrassenM1-M7; odd maps, partial tiles)',
    pack: strassenWeights,
    scratchBytes: strassenScratchBytes,
    part: strassenConvPart,
  }, STRASSEN, 1300],
];

for (const fma of BUILDS) {
  for (const [kernel, shapes, seed0] of DENSE_KERNELS) {
    test(`${kernel.name} equals naive conv -> bn (-> + residual) -> leaky, 1-3 threads (${buildName(fma)})`, async () => {
      const { k, arena, put, get } = await kernels(fma);
      for (const [i, [cin, cout, ks, stride, h, w]] of shapes.entries()) {
        const seed = seed0 + i;
        const x = randomTensor([cin, h, w], seed);
        const wt = randomTensor([cout, cin, ks, ks], seed + 1, -1 / Math.sqrt(cin * ks * ks), 1 / Math.sqrt(cin * ks * ks));
        const bn = {
          weight: randomTensor([cout], seed + 2, 0.5, 1.5), bias: randomTensor([cout], seed + 3),
          running_mean: randomTensor([cout], seed + 4, -0.5, 0.5), running_var: randomTensor([cout], seed + 5, 0.5, 1.5),
        };
        const pad = (ks - 1) / 2;
        const attrs = { stride, padding: pad, groups: 1 };
        const [, hOut, wOut] = conv2dOutputShape(x.shape, wt.shape, attrs);
        const f = foldBatchNorm(wt, null, bn);
        const bias = new Float32Array(Math.ceil(cout / GEMM_MR) * GEMM_MR);
        bias.set(f.b.data);
        const xp = put(x.data), wp = put(kernel.pack(f.w.data, cout, cin * ks * ks)), bp = put(bias);
        const conv = batchNorm2dNaive(conv2dNaive(x, wt, null, attrs), bn);
        // A residual (ResNet's conv3 and its add) added to the sums before the activation.
        const residual = randomTensor([cout, hOut, wOut], seed + 6, -2, 2);
        const rp = put(residual.data);
        for (const slope of [0.1, 0, null]) {
          for (const withRes of [false, true]) {
            const sum = withRes ? addNaive(conv, residual) : conv;
            const ref = slope === null ? sum : leakyReluNaive(sum, slope);
            for (const threads of THREAD_SPLITS) {
              const scratchBytes = kernel.scratchBytes(cin, ks, stride, pad);
              const scratch = arena.alloc((scratchBytes * threads) / 4);
              arena.f32().fill(NaN, scratch / 4, (scratch + scratchBytes * threads) / 4);
              const y = arena.alloc(cout * hOut * wOut);
              arena.f32().fill(NaN, y / 4, y / 4 + cout * hOut * wOut);
              const args = {
                x: xp, cIn: cin, h, w, kSize: ks, stride, pad, hOut, wOut, weights: wp, bias: bp, cOut: cout, y,
                slope: slope ?? 0, hasSlope: slope === null ? 0 : 1, res: withRes ? rp : 0, scratch, scratchBytes,
              };
              runAllPieces(threads, (slot, piece, pieces) => kernel.part(k, args, slot, piece, pieces));
              assertClose(`${kernel.name} [${cin}->${cout} k${ks} s${stride} ${h}x${w}] slope ${slope}${withRes ? ' + residual' : ''} threads ${threads} seed ${seed}`,
                get(y, [cout, hOut, wOut]), ref, SIMD_TWIN);
              arena.release(y);
              arena.release(scratch);
            }
          }
        }
        arena.release(xp); arena.release(wp); arena.release(bp); arena.release(rp);
      }
    });
  }
}

test('every Strassen case runs by Strassen in the backend (strassenApplies)', () => {
  for (const [cin, cout, ks] of STRASSEN) assert.ok(strassenApplies(cin * ks * ks, cout), `${cin} -> ${cout} k${ks}`);
});

test('strassenApplies: at least STRASSEN_MIN_CHANNELS products per output and output channels, output channels in two halves of whole panels', () => {
  assert.ok(strassenApplies(STRASSEN_MIN_CHANNELS, STRASSEN_MIN_CHANNELS));
  assert.not.ok(strassenApplies(STRASSEN_MIN_CHANNELS - 2, 256), 'too few products per output');
  assert.not.ok(strassenApplies(3 * 7 * 7, 64), 'ResNet-50\'s stem: K = 147 odd, 64 outputs');
  assert.not.ok(strassenApplies(256, STRASSEN_MIN_CHANNELS - 8), 'too few output channels');
  assert.not.ok(strassenApplies(256, 132), 'output halves of 66: not whole panels of 4');
  assert.not.ok(strassenApplies(257, 256), 'odd K');
});

test('WINO2 (F(2x2, 3x3)) and WINO4 (F(4x4, 3x3)): A^T ((G g) (.) (B^T d)) is the 3-tap correlation of d, in float64', () => {
  for (const [name, { AT, G, BT }] of [['WINO2', WINO2], ['WINO4', WINO4]] as const) {
    const n = BT.length, m = AT.length;
    for (let seed = 0; seed < 5; seed++) {
      const d = randomTensor([n], 950 + seed).data, g = randomTensor([3], 960 + seed).data;
      const u = G.map((row) => row.reduce((acc: number, gk, k) => acc + gk * g[k]!, 0));
      const v = BT.map((row) => row.reduce((acc: number, bj, j) => acc + bj * d[j]!, 0));
      for (let i = 0; i < m; i++) {
        const y = AT[i]!.reduce((acc: number, a, xi) => acc + a * u[xi]! * v[xi]!, 0);
        const want = d[i]! * g[0]! + d[i + 1]! * g[1]! + d[i + 2]! * g[2]!;
        assert.ok(Math.abs(y - want) < 1e-12, `${name} seed ${seed} output ${i}: ${y} against ${want}`);
      }
    }
  }
});

for (const fma of BUILDS) {
  test(`gemmBlocked (sums by runs of GEMM_K_BLOCK) equals the naive product + bias + leaky, and gemm bit for bit up to one run (${buildName(fma)})`, async () => {
    const { k, arena, put, get } = await kernels(fma);
    // [K, C_out, n]: one run, one run exactly, a short last run, whole runs, many; partial micro-tiles of rows and pixels
    const cases: [number, number, number][] = [[1, 4, 8], [31, 3, 5], [32, 4, 16], [33, 5, 13], [64, 8, 8], [100, 9, 21], [257, 4, 3]];
    for (const [i, [K, cout, n]] of cases.entries()) {
      const seed = 900 + i;
      const wt = randomTensor([cout, K], seed, -1 / Math.sqrt(K), 1 / Math.sqrt(K));
      const b = randomTensor([K, n], seed + 1);
      const bias = new Float32Array(Math.ceil(cout / GEMM_MR) * GEMM_MR);
      bias.set(randomTensor([cout], seed + 2).data);
      const packed = new Float32Array(packedDenseFloats(cout, K));
      packDenseWeights(wt.data, cout, packed);
      const wp = put(packed), bp = put(b.data), biasp = put(bias);
      for (const slope of [0.1, null]) {
        const ref = new Float32Array(cout * n);
        for (let o = 0; o < cout; o++) {
          for (let j = 0; j < n; j++) {
            let acc = bias[o]!;
            for (let q = 0; q < K; q++) acc += wt.data[o * K + q]! * b.data[q * n + j]!;
            ref[o * n + j] = slope !== null && acc < 0 ? acc * slope : acc;
          }
        }
        const run = (gemm: typeof k.gemm) => {
          const y = arena.alloc(cout * n);
          arena.f32().fill(NaN, y / 4, y / 4 + cout * n);
          gemm(wp, bp, n, y, n, biasp, K, cout, n, slope ?? 0, slope === null ? 0 : 1, ROW_MAJOR_BLOCK);
          const out = get(y, [cout, n]);
          arena.release(y);
          return out;
        };
        const blocked = run(k.gemmBlocked);
        assertClose(`gemmBlocked K ${K} C_out ${cout} n ${n} slope ${slope}`, blocked, { shape: [cout, n], data: ref }, SIMD_TWIN);
        if (K <= GEMM_K_BLOCK) assert.equal(blocked.data, run(k.gemm).data, `K ${K} <= ${GEMM_K_BLOCK}: one run, gemm's sums`);
        if (!fma) {
          // The mul + add build, float32 step by step: within a run acc = fround(acc + fround(w b)) (the first run from the
          // bias, the others from 0), each run's sum added to the runs before, then the activation. Bit for bit.
          const model = new Float32Array(cout * n);
          for (let o = 0; o < cout; o++) {
            for (let j = 0; j < n; j++) {
              let total = 0;
              for (let k0 = 0; k0 < K; k0 += GEMM_K_BLOCK) {
                let acc = k0 === 0 ? bias[o]! : 0;
                for (let q = k0; q < Math.min(K, k0 + GEMM_K_BLOCK); q++) acc = Math.fround(acc + Math.fround(wt.data[o * K + q]! * b.data[q * n + j]!));
                total = k0 === 0 ? acc : Math.fround(total + acc);
              }
              model[o * n + j] = slope !== null ? Math.max(total, Math.fround(total * Math.fround(slope))) : total;
            }
          }
          assert.equal(blocked.data, model, `K ${K} C_out ${cout} n ${n} slope ${slope}: the float32 model of sums by runs`);
        }
      }
      for (const p of [wp, bp, biasp]) arena.release(p);
    }
  });
}

for (const [fma, tile] of BUILDS.flatMap((f) => WINOGRAD_TILES.map((t) => [f, t] as const))) {
  test(`Winograd F(${tile}x${tile}, 3x3) equals the naive 3x3 stride-1 convolution + bias + leaky (odd sizes, 1x1 images); as two tasks, bit for bit the one task (${buildName(fma)})`, async () => {
    const { k, arena, put, get } = await kernels(fma);
    const cases: [number, number, number, number][] = [
      [64, 64, 20, 13], [64, 32, 9, 23], [16, 16, 11, 7], [256, 128, 7, 5], [5, 7, 1, 1], [1, 1, 2, 3], [6, 3, 4, 50], [3, 9, 17, 2], [2048, 4, 3, 3],
      // one thread: F(2x2) 20 tile rows of 48 tiles in chunks of 2, each padding its own rows; F(4x4) 10 rows of 24 in chunks of 4, 4, 2
      [8, 8, 39, 95],
      // F(2x2): 19 tile rows, the last chunk 1 row after 2-row ones
      [8, 8, 37, 95],
      // one thread, F(4x4): 15 tile rows of 24 in chunks of 4, 4, 4, 3; C_in 33 and 96: sums by runs of 32 with a short last
      // run, and whole runs; the output's last tile with 1, 2 and 3 of its 4 columns inside the image (W 93, 30, 29)
      [33, 12, 57, 93], [96, 8, 6, 30], [40, 4, 5, 29], [7, 4, 9, 31],
      // rows of tiles not a multiple of 4 over several chunks (F(2x2) 50 tiles, F(4x4) 25; then F(4x4) 11, F(2x2) 22): each
      // row's last vector of V stores 1 to 3 tiles past it, on the next row's first tiles or the next channel's, written after
      [12, 8, 40, 99], [20, 8, 13, 43],
    ];
    let worst = 0;
    for (const [i, [cin, cout, h, w]] of cases.entries()) {
      const seed = 800 + i;
      const x = randomTensor([cin, h, w], seed);
      const wt = randomTensor([cout, cin, 3, 3], seed + 1, -1 / Math.sqrt(cin * 9), 1 / Math.sqrt(cin * 9));
      const b = randomTensor([cout], seed + 2);
      const conv = conv2dNaive(x, wt, b, { stride: 1, padding: 1, groups: 1 });
      const bias = new Float32Array(Math.ceil(cout / GEMM_MR) * GEMM_MR);
      bias.set(b.data);
      const xp = put(x.data), wp = put(winogradWeights(wt.data, cout, cin, tile)), bp = put(bias), zp = put(new Float32Array(bias.length));
      for (const threads of THREAD_SPLITS) {
        const bytes = winogradScratchBytes(cin, cout, h, w, tile);
        // The threads' scratch, then CANARY floats that no kernel may write
        const scratch = arena.alloc((bytes * threads) / 4 + CANARY), canary = scratch + bytes * threads;
        // cOut1 > 0: as a shared pair (cpu_simd.ts shareWinograd), the first cOut1 channels to y with slope, the rest to
        // y2 with the other slope.
        const splits = cout >= 8 && cout % GEMM_MR === 0 ? [...new Set([0, GEMM_MR, Math.floor(cout / (2 * GEMM_MR)) * GEMM_MR])] : [0];
        for (const [slope, cOut1] of [0.1, null].flatMap((sl) => splits.map((c1) => [sl, c1] as const))) {
          const slope2 = slope === null ? 0.1 : null;
          const c1 = cOut1 === 0 ? cout : cOut1;
          const plane = h * w;
          const y = arena.alloc(c1 * plane), y2 = arena.alloc(Math.max(1, (cout - c1) * plane));
          arena.f32().fill(NaN, y / 4, y / 4 + c1 * plane);
          arena.f32().fill(NaN, y2 / 4, y2 / 4 + (cout - c1) * plane);
          arena.f32().fill(NaN, scratch / 4, canary / 4);
          arena.f32().fill(CANARY_VALUE, canary / 4, canary / 4 + CANARY);
          const args = {
            x: xp, cIn: cin, h, w, cOut: cout, y, tile, weights: wp, zeros: zp, bias: bp, slope: slope ?? 0, hasSlope: slope === null ? 0 : 1,
            cOut1, y2, bias2: bp + 4 * cOut1, slope2: slope2 ?? 0, hasSlope2: slope2 === null ? 0 : 1, scratch, scratchBytes: bytes,
          };
          runAllPieces(threads, (slot, piece, pieces) => winogradPart(k, args, slot, piece, pieces));
          const channels = (t: Tensor, from: number, to: number): Tensor => ({ shape: [to - from, h, w], data: t.data.slice(from * plane, to * plane) });
          const act = (t: Tensor, sl: number | null) => (sl === null ? t : leakyReluNaive(t, sl));
          const what = `winograd F(${tile}x${tile}) [${cin}->${cout} ${h}x${w}] cOut1 ${cOut1} slope ${slope} threads ${threads} seed ${seed}`;
          worst = Math.max(worst, assertClose(what, get(y, [c1, h, w]), act(channels(conv, 0, c1), slope), SIMD_TWIN).maxAbsError);
          if (cOut1 > 0) worst = Math.max(worst, assertClose(`${what}, y2`, get(y2, [cout - c1, h, w]), act(channels(conv, c1, cout), slope2), SIMD_TWIN).maxAbsError);
          assert.ok(arena.floats(canary, CANARY).every((v) => v === CANARY_VALUE), `${what}: a kernel wrote past the scratch`);
          // The same convolution as two tasks (winogradInputPart by input channels, then winogradGemmPart by output
          // channels, over one whole-map V): bit for bit the one task's outputs; nothing written past V or the scratch.
          const twoBytes = winogradTwoTaskScratchBytes(cout, h, w, tile), vFloats = winogradVFloats(cin, h, w, tile);
          const scratch2 = arena.alloc((twoBytes * threads) / 4 + CANARY), canary2 = scratch2 + twoBytes * threads;
          const v = arena.alloc(vFloats + CANARY), canaryV = v + 4 * vFloats;
          const yTwo = arena.alloc(c1 * plane), y2Two = arena.alloc(Math.max(1, (cout - c1) * plane));
          arena.f32().fill(NaN, yTwo / 4, yTwo / 4 + c1 * plane);
          arena.f32().fill(NaN, y2Two / 4, y2Two / 4 + (cout - c1) * plane);
          arena.f32().fill(NaN, scratch2 / 4, canary2 / 4);
          arena.f32().fill(NaN, v / 4, canaryV / 4);
          for (const c of [canary2, canaryV]) arena.f32().fill(CANARY_VALUE, c / 4, c / 4 + CANARY);
          const two = { ...args, y: yTwo, y2: y2Two, scratch: scratch2, scratchBytes: twoBytes, v };
          runAllPieces(threads, (slot, piece, pieces) => winogradInputPart(k, two, slot, piece, pieces));
          runAllPieces(threads, (slot, piece, pieces) => winogradGemmPart(k, two, slot, piece, pieces));
          for (const [one, other, n] of [[y, yTwo, c1], [y2, y2Two, cout - c1]] as const) {
            const a = arena.floats(one, n * plane), b = arena.floats(other, n * plane);
            const j = a.findIndex((val, q) => !Object.is(val, b[q]));
            assert.is(j, -1, `${what}, as two tasks [${j}]: ${a[j]} in one task, ${b[j]} in two`);
          }
          assert.ok(arena.floats(canary2, CANARY).every((val) => val === CANARY_VALUE), `${what}: two tasks wrote past the scratch`);
          assert.ok(arena.floats(canaryV, CANARY).every((val) => val === CANARY_VALUE), `${what}: two tasks wrote past V`);
          for (const p of [scratch2, v, yTwo, y2Two]) arena.release(p);
          arena.release(y);
          arena.release(y2);
        }
        arena.release(scratch);
      }
      for (const p of [xp, wp, bp, zp]) arena.release(p);
    }
    console.error(`  winograd F(${tile}x${tile}), ${buildName(fma)}: worst |error| against the naive loops ${worst.toExponential(2)}`);
  });
}

for (const fma of BUILDS) {
  test(`depthwise 3x3 SIMD (stride 1 and 2) equals the naive grouped convolution + leaky (${buildName(fma)})`, async () => {
    const { k, arena, put, get } = await kernels(fma);
    const cases: [number, number, number, number][] = [
      [8, 1, 1, 1], [8, 2, 2, 2], [16, 1, 3, 5], [33, 2, 17, 33], [128, 2, 9, 8], [3, 1, 1, 7], [5, 1, 13, 4], [7, 2, 6, 9], [2, 2, 1, 1],
      [8, 2, 33, 17], [4, 1, 37, 6], // several bands of output rows
      [5, 1, 9, 8], [6, 1, 7, 23], [3, 1, 5, 16], [2, 2, 4, 31], // 8 pixels a step, with and without the rest of a row
    ];
    for (const [i, [c, stride, h, w]] of cases.entries()) {
      const seed = 400 + i;
      const x = randomTensor([c, h, w], seed);
      const wt = randomTensor([c, 1, 3, 3], seed + 1);
      const b = randomTensor([c], seed + 2);
      const attrs = { stride, padding: 1, groups: c };
      const [, hOut, wOut] = conv2dOutputShape(x.shape, wt.shape, attrs);
      const xp = put(x.data), wp = put(wt.data), bp = put(b.data);
      const conv = conv2dNaive(x, wt, b, attrs);
      for (const slope of [0.1, null]) {
        const ref = slope === null ? conv : leakyReluNaive(conv, slope);
        for (const threads of THREAD_SPLITS) {
          const scratchBytes = depthwisePlaneFloats(w) * 4;
          const scratch = arena.alloc((scratchBytes * threads) / 4);
          arena.f32().fill(NaN, scratch / 4, (scratch + scratchBytes * threads) / 4);
          const y = arena.alloc(c * hOut * wOut);
          arena.f32().fill(NaN, y / 4, y / 4 + c * hOut * wOut);
          const args = { x: xp, c, h, w, stride, hOut, wOut, weights: wp, bias: bp, y, slope: slope ?? 0, hasSlope: slope === null ? 0 : 1, scratch, scratchBytes };
          runAllPieces(threads, (slot, piece, pieces) => depthwisePart(k, args, slot, piece, pieces));
          assertClose(`simd depthwise [${c} s${stride} ${h}x${w}] slope ${slope} threads ${threads} seed ${seed}`, get(y, [c, hOut, wOut]), ref, SIMD_TWIN);
          arena.release(y);
          arena.release(scratch);
        }
      }
      arena.release(xp); arena.release(wp); arena.release(bp);
    }
  });
}


for (const fma of BUILDS) {
  test(`fused depthwise + pointwise (dwPw) equals naive depthwise -> leaky -> 1x1 -> leaky: odd widths, stride 2, several bands, 1-3 threads (${buildName(fma)})`, async () => {
    const { k, arena, put, get } = await kernels(fma);
    // [C, C_out, stride, H, W]: output widths below, at and past a panel (8), not a multiple of 4
    // (each row padded to whole panels), and multiples of 4 (the band's rows end to end: 4, 8, 16,
    // and 12 and 20, whose odd rows start half a panel in); 64 x 161 columns gives bands of 6 rows
    // (dwPwBandRows), so 33 rows run as several bands, as do 256 x 20 columns' 23 rows (bands of 10).
    const cases: [number, number, number, number, number][] = [
      [8, 16, 1, 5, 3], [16, 32, 2, 9, 17], [32, 32, 1, 12, 9], [64, 128, 2, 33, 41], [64, 64, 1, 33, 161],
      [3, 5, 1, 1, 1], [5, 7, 2, 2, 2], [128, 256, 1, 3, 4],
      [24, 16, 1, 7, 8], [16, 24, 1, 6, 16], [48, 40, 2, 19, 24], [256, 64, 1, 23, 20],
    ];
    assert.ok(dwPwBandRows(64, 161) < 33 && dwPwBandRows(256, 20) < 23, 'two cases run several bands');
    for (const [i, [c, cOut, stride, h, w]] of cases.entries()) {
      const seed = 450 + i;
      const x = randomTensor([c, h, w], seed);
      const dw = randomTensor([c, 1, 3, 3], seed + 1), dwB = randomTensor([c], seed + 2);
      const pw = randomTensor([cOut, c, 1, 1], seed + 3), pwB = randomTensor([cOut], seed + 4);
      const dAttrs = { stride, padding: 1, groups: c };
      const [, hOut, wOut] = conv2dOutputShape(x.shape, dw.shape, dAttrs);
      const packed = new Float32Array(packedDenseFloats(cOut, c));
      packDenseWeights(pw.data, cOut, packed);
      const bias = new Float32Array(Math.ceil(cOut / GEMM_MR) * GEMM_MR);
      bias.set(pwB.data);
      const xp = put(x.data), dwp = put(dw.data), dbp = put(dwB.data), pwp = put(packed), pbp = put(bias);
      for (const slope of [0.1, null]) {
        const act = (t: Tensor) => (slope === null ? t : leakyReluNaive(t, slope));
        const ref = act(conv2dNaive(act(conv2dNaive(x, dw, dwB, dAttrs)), pw, pwB, { stride: 1, padding: 0, groups: 1 }));
        for (const threads of THREAD_SPLITS) {
          const scratchBytes = dwPwScratchBytes(c, w, wOut);
          const scratch = arena.alloc((scratchBytes * threads) / 4);
          arena.f32().fill(NaN, scratch / 4, (scratch + scratchBytes * threads) / 4);
          const y = arena.alloc(cOut * hOut * wOut);
          arena.f32().fill(NaN, y / 4, y / 4 + cOut * hOut * wOut);
          const a = {
            x: xp, c, h, w, stride, hOut, wOut, dwWeights: dwp, dwBias: dbp, dwSlope: slope ?? 0, dwHasSlope: slope === null ? 0 : 1,
            pwWeights: pwp, pwBias: pbp, cOut, y, slope: slope ?? 0, hasSlope: slope === null ? 0 : 1,
            bandRows: dwPwBandRows(c, wOut), scratch, scratchBytes,
          };
          runAllPieces(threads, (slot, piece, pieces) => dwPwPart(k, a, slot, piece, pieces));
          assertClose(`simd dwPw [${c}->${cOut} s${stride} ${h}x${w}] slope ${slope} threads ${threads} seed ${seed}`, get(y, [cOut, hOut, wOut]), ref, SIMD_TWIN);
          arena.release(y);
          arena.release(scratch);
        }
      }
      for (const p of [xp, dwp, dbp, pwp, pbp]) arena.release(p);
    }
  });
}

test('cpu-simd: fused depthwise-separable blocks, SSH\'s shared-input Winograd pairs and each level\'s heads as one give the unfused outputs bit for bit (mobile0.25, 1 and 2 threads); a tap of a deferred output computes it; a head called on another input than its group\'s first runs alone; no memory grows over frames', async () => {
  const model = buildRetinaFace('mobile0.25');
  randomizeModel(model, 11);
  const input = randomTensor([3, 75, 53], 12, -120, 150);
  for (const threads of [1, 2]) {
    const outs = [];
    for (const fuse of [false, true]) {
      // strassen: false: unfused, stage2's and stage3's pointwise 1x1s would run by Strassen and round otherwise
      const be = new CpuSimdBackend({ threads, fuse, strassen: false });
      await be.prepare(model);
      outs.push(await runNetwork(be, model, input, true));
      be.dispose();
    }
    const [plain, fused] = outs as [Awaited<ReturnType<typeof runNetwork>>, Awaited<ReturnType<typeof runNetwork>>];
    for (const [name, t] of plain.taps) {
      const a = t.data, b = fused.taps.get(name)!.data;
      const i = a.findIndex((v, j) => !Object.is(v, b[j]));
      assert.is(i, -1, `${name}[${i}] (threads ${threads}): ${a[i]} unfused, ${b[i]} fused`);
    }
  }
  // A deferred depthwise output read directly (not by its partner) is computed then: the naive depthwise's values.
  const be = new CpuSimdBackend({ threads: 2 });
  await be.prepare(model);
  const unit = (model.body as MobileNetV1).stage1.items[1] as ConvDw;
  const dwUnit = unit.depthwise;
  const x = be.upload(randomTensor([8, 19, 23], 13));
  const d = be.convBnAct(x, dwUnit);
  be.release(x); // the deferred output keeps its input alive
  const naive = new CpuBackend('naive');
  await naive.prepare(model);
  assertClose('deferred depthwise, read', await be.read(d), naive.convBnAct(randomTensor([8, 19, 23], 13), dwUnit), SIMD_TWIN);
  be.release(d);
  // A level's heads: BboxHead.0 on one input computes the group; ClassHead.0 on another input
  // does not take that kept output but runs alone, and LandmarkHead.0 on the first input takes its view.
  const [bbox, cls, ldm] = [model.BboxHead.at(0).unit, model.ClassHead.at(0).unit, model.LandmarkHead.at(0).unit];
  const f1 = randomTensor([64, 6, 5], 14), f2 = randomTensor([64, 6, 5], 15);
  const x1 = be.upload(f1), x2 = be.upload(f2);
  const got = [be.convBnAct(x1, bbox), be.convBnAct(x2, cls), be.convBnAct(x1, ldm)];
  const want = [naive.convBnAct(f1, bbox), naive.convBnAct(f2, cls), naive.convBnAct(f1, ldm)];
  for (const [i, t] of got.entries()) assertClose(`head ${i} of level 0, called apart`, await be.read(t), want[i]!, SIMD_TWIN);
  for (const t of [...got, x1, x2]) be.release(t);
  // Every block a forward takes (views of the heads' blocks included) is back in the arena after it: the memory stops growing.
  const sizes: number[] = [];
  for (let frame = 0; frame < 40; frame++) {
    await runNetwork(be, model, input);
    sizes.push(be.memoryBytes);
  }
  assert.is(sizes.at(-1), sizes[1], `memory after frame 2 ${sizes[1]} bytes, after frame 40 ${sizes.at(-1)}`);
  be.dispose();
});

test('cpu-simd: a ResNet-50 Bottleneck\'s conv3 and its residual add as one dense task (gemmResidual), and its 3x3 as two Winograd tasks (winogradTwoTasks), give the unfused, one-task outputs bit for bit (1 and 2 threads); a conv3 output read directly is computed then', async () => {
  // [inplanes, planes, stride, downsample, H, W]: layer2.0's kind (stride 2, downsample), layer1.1's (identity), and
  // layer3.1's on a small map, whose 256 -> 256 3x3 (F(4x4) weights 9.4 MB, 12 tiles) runs as two tasks on 2 threads
  const blocks: [number, number, number, boolean, number, number][] = [[64, 32, 2, true, 17, 19], [128, 32, 1, false, 13, 11], [1024, 256, 1, false, 9, 11]];
  for (const [i, [inplanes, planes, stride, ds, h, w]] of blocks.entries()) {
    const block = new Bottleneck(inplanes, planes, stride, ds);
    assignPaths(block, `block${i}`);
    randomizeModel(block, 70 + i);
    const input = randomTensor([inplanes, h, w], 80 + i);
    const naive = new CpuBackend('naive');
    await naive.prepare(block);
    const want = block.forward(new Forward(naive, false), input);
    const twoTasks = winogradTwoTasks(planes, planes, h, w, winogradTileFor(planes), 2 * PIECES_PER_THREAD, 2);
    assert.is(twoTasks, i === 2, `block ${i}: two Winograd tasks on 2 threads`);
    for (const threads of [1, 2]) {
      const outs: Tensor[] = [];
      for (const options of [{ fuse: false, twoTaskWinograd: false }, { fuse: true, twoTaskWinograd: false }, { fuse: true }]) {
        // strassen: false: the fusion's bits are the plain GEMM's (Strassen's are tested against the naive loops above and in the network tests)
        const be = new CpuSimdBackend({ threads, parallelMinMacs: 0, strassen: false, ...options });
        await be.prepare(block);
        const x = be.upload(input);
        be.startProfile();
        outs.push(await be.read(block.forward(new Forward(be, false), x)));
        const names = be.stopProfile().map((r) => r.name);
        assert.is(names.includes('winogradInput'), threads === 2 && twoTasks && options.twoTaskWinograd !== false, `block ${i} ${JSON.stringify(options)} threads ${threads}: ${names.join(' ')}`);
        assert.is(names.filter((n) => n === 'elementwise').length, options.fuse ? 0 : 1, `block ${i} ${JSON.stringify(options)}: the residual add fused or not`);
        if (options.fuse) {
          // The deferred conv3 output read on its own: the conv's values (its add never runs).
          const u = block.units;
          const out3 = be.convBnAct(be.convBnAct(be.convBnAct(x, u.conv1), u.conv2), u.conv3);
          const wantOut3 = naive.convBnAct(naive.convBnAct(naive.convBnAct(input, u.conv1), u.conv2), u.conv3);
          assertClose(`block ${i} conv3 read (threads ${threads})`, await be.read(out3), wantOut3, SIMD_TWIN);
        }
        be.dispose();
      }
      for (const other of outs.slice(1)) {
        const j = outs[0]!.data.findIndex((v, k) => !Object.is(v, other.data[k]));
        assert.is(j, -1, `block ${i} (threads ${threads}) [${j}]: ${outs[0]!.data[j]} unfused in one task, ${other.data[j]} otherwise`);
      }
      assertClose(`block ${i} against naive (threads ${threads})`, outs[2]!, want, SIMD_TWIN);
    }
  }
});

test('leaky (f32x4.pmax of x and slope x) is bit for bit the naive LeakyReLU on -0, +-0 products, subnormals, the extremes and infinities, but -Infinity at slope 0; NaN stays NaN', async () => {
  const { k, arena, put, get } = await kernels(false);
  const specials = [-0, 0, 1, -1, -1.5, 2.5, 1e-45, -1e-45, 1.2e-38, -1.2e-38, 3.4e38, -3.4e38, Infinity, -Infinity, NaN, -NaN];
  const x = new Float32Array(specials);
  const xp = put(x), y = arena.alloc(x.length);
  for (const slope of [0.1, 0.2, 0.5, 1, 0]) {
    elementwisePart(k, { a: xp, b: 0, y, n: x.length, slope, hasSlope: 1 }, 0, 0, 1);
    const got = get(y, [x.length]).data;
    const want = leakyReluNaive({ shape: [x.length], data: x } as Tensor, slope).data;
    // The one known difference: slope 0 on -Infinity, where slope x is NaN (the naive loop and
    // PyTorch's leaky_relu give NaN), pmax keeps x. Non-finite activations never come out of
    // images (uint8 pixels), so the detector cannot meet it.
    if (slope === 0) want[specials.indexOf(-Infinity)] = -Infinity;
    for (let i = 0; i < x.length; i++) {
      if (Number.isNaN(want[i]!)) assert.ok(Number.isNaN(got[i]!), `slope ${slope}, x = ${x[i]}: NaN expected, got ${got[i]}`);
      else assert.ok(Object.is(got[i], want[i]), `slope ${slope}, x = ${x[i]}: ${want[i]} expected, got ${got[i]}`);
    }
  }
  arena.release(xp); arena.release(y);
});

test('max pool 3x3 stride 2 pad 1 (ResNet-50\'s stem) equals the naive nn.MaxPool2d exactly: odd and even sizes, 1x1 to 2 vectors and tails, NaN propagated', async () => {
  const { k, arena, put, get } = await kernels(false);
  const shapes: [number, number, number][] = [[1, 1, 1], [2, 2, 3], [3, 7, 9], [2, 8, 16], [3, 17, 33], [5, 18, 34], [4, 9, 8], [2, 31, 30], [1, 3, 64]];
  for (const [i, [c, h, w]] of shapes.entries()) {
    const x = randomTensor([c, h, w], 900 + i, -3, 3);
    // NaNs in the first row (clipped above), the last row and column (the scalar tail) and in
    // columns 5 and 9, which the vector path reads (outputs 2 to 4 at w = 16): a window holding one is NaN
    if (i % 2 === 1) for (const [r, col] of [[0, 5], [h >> 1, 9], [h - 1, w - 1]] as const) x.data[r * w + Math.min(col, w - 1)] = NaN;
    const ref = maxPool2dNaive(x, 3, 2, 1);
    const [, hOut, wOut] = ref.shape as [number, number, number];
    const xp = put(x.data), y = arena.alloc(c * hOut * wOut);
    for (const threads of THREAD_SPLITS) {
      arena.f32().fill(-7, y / 4, y / 4 + c * hOut * wOut);
      runAllPieces(threads, (slot, piece, pieces) => maxPool2dPart(k, { x: xp, c, h, w, y, hOut, wOut }, slot, piece, pieces));
      const got = get(y, ref.shape).data;
      for (let j = 0; j < got.length; j++) {
        const same = Number.isNaN(ref.data[j]!) ? Number.isNaN(got[j]!) : got[j] === ref.data[j];
        assert.ok(same, `max pool (${c}, ${h}, ${w}) threads ${threads}: output ${j} is ${got[j]}, expected ${ref.data[j]}`);
      }
    }
    arena.release(xp); arena.release(y);
  }
});

test('elementwise (add, copy, + leaky) and head permute kernels equal the naive ops', async () => {
  const { k, arena, put, get } = await kernels(false); // no multiply-adds: one build suffices
  for (const [i, n] of [1, 3, 4, 5, 17, 64, 1023].entries()) {
    const a = randomTensor([n], 500 + i), b = randomTensor([n], 600 + i);
    const ap = put(a.data), bp = put(b.data), y = arena.alloc(n);
    for (const threads of THREAD_SPLITS) {
      for (const slope of [0.1, 0, null]) {
        const act = { slope: slope ?? 0, hasSlope: slope === null ? 0 : 1 };
        arena.f32().fill(NaN, y / 4, y / 4 + n);
        runAllPieces(threads, (slot, piece, pieces) => elementwisePart(k, { a: ap, b: bp, y, n, ...act }, slot, piece, pieces));
        const sum = addNaive(a, b);
        assertClose(`add n=${n} slope ${slope} threads ${threads}`, get(y, [n]), slope === null ? sum : leakyReluNaive(sum, slope), SIMD_TWIN);
        arena.f32().fill(NaN, y / 4, y / 4 + n);
        runAllPieces(threads, (slot, piece, pieces) => elementwisePart(k, { a: ap, b: 0, y, n, ...act }, slot, piece, pieces));
        assertClose(`copy n=${n} slope ${slope} threads ${threads}`, get(y, [n]), slope === null ? a : leakyReluNaive(a, slope), SIMD_TWIN);
      }
    }
    arena.release(ap); arena.release(bp); arena.release(y);
  }
  for (const [i, [c, h, w, kk]] of ([[4, 1, 1, 2], [8, 3, 5, 4], [20, 7, 9, 10], [4, 17, 3, 2]] as const).entries()) {
    const x = randomTensor([c, h, w], 700 + i);
    const xp = put(x.data), y = arena.alloc(c * h * w);
    for (const threads of THREAD_SPLITS) {
      arena.f32().fill(NaN, y / 4, y / 4 + c * h * w);
      runAllPieces(threads, (slot, piece, pieces) => headPermutePart(k, { x: xp, y, c, hw: h * w }, slot, piece, pieces));
      assertClose(`head permute (${c}, ${h}, ${w}) k ${kk} threads ${threads}`, get(y, [(h * w * c) / kk, kk]), headPermuteNaive(x, kk), SIMD_TWIN);
    }
    arena.release(xp); arena.release(y);
  }
});

test('cpu-simd softmax over 2 classes (one exp a row) equals the naive softmax bit for bit, infinities and NaN included, on 1 and 2 threads', async () => {
  const edge = [0, 1, -1, 3.5, -20, 100, -100, 1e-30, 88.7, -88.7, Infinity, -Infinity, NaN];
  const rows = edge.length ** 2 + 5000; // 2 x 5169 floats: over SOFTMAX_PARALLEL_MIN_FLOATS, so split on 2 threads
  assert.ok(2 * rows >= SOFTMAX_PARALLEL_MIN_FLOATS);
  const x = randomTensor([rows, 2], 901, -20, 20);
  edge.forEach((a, i) => edge.forEach((b, j) => x.data.set([a, b], 2 * (i * edge.length + j))));
  for (const threads of [1, 2]) {
    const be = new CpuSimdBackend({ threads });
    await be.prepare(buildRetinaFace('mobile0.25'));
    for (const k of [2, 3]) { // 3: the general loop, for comparison
      const xk = k === 2 ? x : randomTensor([rows, 3], 902, -20, 20);
      const input = be.upload(xk);
      be.startProfile();
      const y = be.softmax(input);
      assert.equal(be.stopProfile().map((r) => [r.name, r.parallel]), [['softmax', threads === 2]], 'one softmax task, split on 2 threads');
      const got = (await be.read(y)).data, want = softmaxNaive(xk).data;
      const i = got.findIndex((v, j) => !Object.is(v, want[j]));
      assert.is(i, -1, `threads ${threads}, k ${k} [${i}]: ${got[i]} vs ${want[i]} (input ${xk.data[i]})`);
    }
    be.dispose();
  }
});

// --- the whole backend --------------------------------------------------------------------------

/**
 * cpu-simd against cpu-naive through the whole mobile0.25 network: float32 accumulation in the
 * SIMD kernels (the naive loops accumulate in float64) compounds over ~30 layers of random
 * weights that keep activations of order 1 (up to ~100 after the stem on raw pixel inputs);
 * measured worst |error| / (1 + |expected|) 4e-5 at 61x47, so 1e-4 abs + rel.
 */
const NETWORK: Tolerance = { abs: 1e-4, rel: 1e-4 };

test('cpu-simd equals cpu-naive on mobile0.25 (random weights, 61x47), every module output, 1 and 2 threads, with and without Winograd, both builds', async () => {
  const model = buildRetinaFace('mobile0.25');
  randomizeModel(model, 7);
  const input = randomTensor([3, 61, 47], 8, -120, 150);
  const naive = new CpuBackend('naive');
  await naive.prepare(model);
  const ref = await runNetwork(naive, model, input, true);
  for (const [threads, winograd, fma] of [[1, true, false], [2, true, false], [2, false, false], [1, true, true], [2, true, true]] as const) {
    // parallelMinMacs 0: every convolution split over the threads (at 61x47 all are below the default threshold)
    const be = new CpuSimdBackend({ threads, winograd, fma, parallelMinMacs: 0 });
    await be.prepare(model);
    assert.is(be.threads, threads);
    assert.is(be.fma, fma);
    const bytes: number[] = [];
    for (let frame = 0; frame < 3; frame++) {
      const got = await runNetwork(be, model, input, true);
      bytes.push(be.memoryBytes);
      assert.equal([...got.taps.keys()].sort(), [...ref.taps.keys()].sort());
      for (const [name, t] of ref.taps) assertClose(`${name} (threads ${threads}, winograd ${winograd}, fma ${fma}, frame ${frame})`, got.taps.get(name)!, t, NETWORK);
      for (const k of ['loc', 'conf', 'landms'] as const) assertClose(`${k} (threads ${threads})`, got[k], ref[k], NETWORK);
    }
    // The arena is sized by the first frame and reused: later frames do not grow it.
    assert.is(bytes[2], bytes[1], `arena grew from ${bytes[1]} to ${bytes[2]} bytes on a later frame`);
    assert.is(bytes[1], bytes[0], `arena grew from ${bytes[0]} to ${bytes[1]} bytes on the second frame`);
    be.dispose();
  }
});

test('cpu-simd: fma: true with precompiled (plain SIMD) modules is an option error (RetinaFaceError, EOPTION), not a crash', async () => {
  const model = buildRetinaFace('mobile0.25');
  const plain = await compileSimdModule(SIMD_MEMORY.plain);
  const be = new CpuSimdBackend({ threads: 1, fma: true, modules: { plain } });
  try {
    await be.prepare(model);
    assert.unreachable('prepare() accepted fma: true with precompiled modules');
  } catch (e) {
    assert.instance(e, RetinaFaceError);
    assert.is((e as RetinaFaceError).code, 'EOPTION');
    assert.match((e as Error).message, /^invalid option fma: true needs the kernels compiled here/);
  }
});

test('cpu-simd: a winogradTile other than 2 or 4 is an option error (RetinaFaceError, EOPTION) naming the value', async () => {
  for (const tile of [3, 0, '4']) {
    const be = new CpuSimdBackend({ threads: 1, winogradTile: tile as unknown as 2 });
    try {
      await be.prepare(buildRetinaFace('mobile0.25'));
      assert.unreachable(`prepare() accepted winogradTile ${String(tile)}`);
    } catch (e) {
      assert.instance(e, RetinaFaceError);
      assert.is((e as RetinaFaceError).code, 'EOPTION');
      assert.ok((e as Error).message.startsWith(`invalid option winogradTile: ${JSON.stringify(tile)} (expected 2`), (e as Error).message);
    }
  }
});

test('winogradTileFor: F(4x4) from WINOGRAD4_MIN_CHANNELS input channels, F(2x2) below; the option wins', () => {
  assert.is(winogradTileFor(WINOGRAD4_MIN_CHANNELS), 4);
  assert.is(winogradTileFor(WINOGRAD4_MIN_CHANNELS - 1), 2);
  assert.is(winogradTileFor(1), 2);
  assert.is(winogradTileFor(2048), 4);
  assert.is(winogradTileFor(2048, 2), 2);
  assert.is(winogradTileFor(1, 4), 4);
});

test('cpu-simd: winogradTile 2 and 4 give the same network outputs within the kernels\' tolerance, and the default takes F(4x4) at >= WINOGRAD4_MIN_CHANNELS input channels only', async () => {
  const model = buildRetinaFace('mobile0.25');
  randomizeModel(model, 11);
  const x = randomTensor([3, 37, 45], 12, -100, 100);
  const outs = [];
  for (const winogradTile of [2, 4, undefined] as const) {
    const be = new CpuSimdBackend({ threads: 1, winogradTile });
    await be.prepare(model);
    outs.push(await runNetwork(be, model, x, true));
    be.dispose();
  }
  const [two, four, auto] = outs as [Awaited<ReturnType<typeof runNetwork>>, Awaited<ReturnType<typeof runNetwork>>, Awaited<ReturnType<typeof runNetwork>>];
  for (const k of ['loc', 'conf', 'landms'] as const) assertClose(`winogradTile 4 against 2: ${k}`, four[k], two[k], NETWORK);
  // mobile0.25's 3x3 convolutions: the FPN merges and SSH's conv3X3 and conv5X5_1 read 64 channels (F(4x4) by default), SSH's
  // later ones 16 (F(2x2)). Up to conv5X5_1 the default computes what winogradTile 4 does, bit for bit; conv5X5_2, of the same input, not.
  assert.is(winogradTileFor(64), 4);
  assert.is(winogradTileFor(16), 2);
  for (const name of ['fpn.merge1', 'ssh1.conv3X3', 'ssh1.conv5X5_1']) assert.equal(auto.taps.get(name)!.data, four.taps.get(name)!.data, `${name}: F(4x4) by default`);
  assert.not.equal(auto.taps.get('ssh1.conv5X5_2')!.data, four.taps.get('ssh1.conv5X5_2')!.data, 'ssh1.conv5X5_2 (16 channels): F(2x2) by default');
  assertClose('ssh1.conv5X5_2, default against winogradTile 4', auto.taps.get('ssh1.conv5X5_2')!, four.taps.get('ssh1.conv5X5_2')!, NETWORK);
});

test('cpu-simd pool: threads poll for work only briefly (SPIN_MS) after a task, then block: an idle 2-thread backend takes no CPU', async () => {
  const model = buildRetinaFace('mobile0.25');
  randomizeModel(model, 7);
  const be = new CpuSimdBackend({ threads: 2, parallelMinMacs: 0 });
  await be.prepare(model);
  assert.is(be.threads, 2, 'a worker thread to poll');
  await runNetwork(be, model, randomTensor([3, 61, 47], 8, -120, 150));
  // 50 ms after its last task (SPIN_MS is 1), every thread of a pool at rest blocks
  await new Promise((r) => setTimeout(r, 50));
  const cpu0 = process.cpuUsage(), t0 = performance.now();
  await new Promise((r) => setTimeout(r, 300));
  const cpu = process.cpuUsage(cpu0), wallMs = performance.now() - t0;
  const cpuMs = (cpu.user + cpu.system) / 1000;
  // A worker still polling would take a whole core: ~300 ms of CPU in 300 ms. Idle, the process
  // takes a few ms (timers, the GC); 100 ms leaves room for a loaded machine's scheduling noise.
  assert.ok(cpuMs < 100, `an idle pool took ${cpuMs.toFixed(0)} ms of CPU in ${wallMs.toFixed(0)} ms`);
  be.dispose();
});

/**
 * The pool tasks a forward runs, counted from the network's trace by how cpu_simd.ts maps each op to
 * tasks, and how many of them are dispatched to every thread: the convolutions of at least
 * PARALLEL_MIN_MACS multiply-adds (adds, cats, permutes and upsamplings are under
 * PARALLEL_MIN_FLOATS at the sizes tested here).
 */
async function expectedTasks(model: RetinaFace, height: number, width: number): Promise<{ all: Map<string, number>; parallel: Map<string, number> }> {
  const all = new Map<string, number>(), parallel = new Map<string, number>();
  const add = (name: string, n = 1, macs = 0) => {
    all.set(name, (all.get(name) ?? 0) + n);
    if (macs >= PARALLEL_MIN_MACS) parallel.set(name, (parallel.get(name) ?? 0) + n);
  };
  const ops = (await anatomy(model, height, width)).ops;
  const macsOf = (path: string) => ops.find((o) => o.path === path)!.macs;
  for (const [i, op] of ops.entries()) {
    // SSH's conv5X5_1 runs with its conv3X3, its conv7X7_2 with its conv5X5_2 (one Winograd over both: sharedInputGroups)
    if (op.op === 'conv' && op.kind === 'dense 3x3/1') {
      if (/\.(conv5X5_1|conv7X7_2)\.0$/.test(op.path!)) continue;
      const partner = /\.conv3X3\.0$/.test(op.path!) ? macsOf(op.path!.replace('conv3X3', 'conv5X5_1'))
        : /\.conv5X5_2\.0$/.test(op.path!) ? macsOf(op.path!.replace('conv5X5_2', 'conv7X7_2')) : 0;
      const cOut = op.output[0]! + (partner > 0 ? (op.output[0]! * partner) / op.macs : 0);
      const [cIn, h, w] = op.input as [number, number, number];
      // on 2 threads, a small map's Winograd with large weights is two tasks (winogradTwoTasks; none of mobile0.25's)
      if (op.macs + partner >= PARALLEL_MIN_MACS && winogradTwoTasks(cIn, cOut, h, w, winogradTileFor(cIn), 2 * PIECES_PER_THREAD, 2)) {
        add('winogradInput', 1, op.macs + partner);
        add('winogradGemm', 1, op.macs + partner);
      } else add('winograd', 1, op.macs + partner);
    }
    // a level's ClassHead and LandmarkHead run with its BboxHead (one dense 1x1 over all three: sharedInputGroups)
    else if (op.op === 'conv' && op.kind === 'head 1x1') {
      if (!op.path!.startsWith('BboxHead.')) continue;
      add('dense', 1, op.macs + macsOf(op.path!.replace('BboxHead', 'ClassHead')) + macsOf(op.path!.replace('BboxHead', 'LandmarkHead')));
    }
    // a depthwise conv and the pointwise after it (a conv_dw block) run fused: one task
    else if (op.op === 'conv' && op.kind!.startsWith('depthwise')) { add('dwPw', 1, op.macs + ops[i + 1]!.macs); add('dense', -1, ops[i + 1]!.macs); }
    else if (op.op === 'conv') add('dense', 1, op.macs);
    // every torch.cat of RetinaFace has 3 inputs (SSH's three branches, the heads' three levels), one task each
    else if (op.op === 'cat' || op.op === 'catRows') add('elementwise', 3);
    else if (op.op === 'add') add('elementwise');
    else if (op.op === 'headPermute') add('headPermute');
    else if (op.op === 'interpolate') add('nearest');
    // the softmax on both threads from SOFTMAX_PARALLEL_MIN_FLOATS (its floats counted as add's multiply-adds)
    else if (op.op === 'softmax') add('softmax', 1, numel(op.output) >= SOFTMAX_PARALLEL_MIN_FLOATS ? PARALLEL_MIN_MACS : 0);
  }
  for (const [k, v] of parallel) if (v === 0) parallel.delete(k);
  return { all, parallel };
}

test('cpu-simd profile: one record per pool task, stamps in order on one clock, outputs bit-identical with it on and off', async () => {
  const model = buildRetinaFace('mobile0.25');
  randomizeModel(model, 7);
  // 161x127: the larger convolutions are over PARALLEL_MIN_MACS, the heads and SSH3 under it
  const input = randomTensor([3, 161, 127], 8, -120, 150);
  const be = new CpuSimdBackend({ threads: 2 });
  await be.prepare(model);
  assert.is(be.threads, 2);
  assert.throws(() => be.stopProfile(), /without startProfile/);
  const plain = await runNetwork(be, model, input);
  be.startProfile();
  const profiled = await runNetwork(be, model, input);
  const records = be.stopProfile();
  for (const k of ['loc', 'conf', 'landms'] as const) {
    const a = plain[k].data, b = profiled[k].data;
    const i = a.findIndex((v, j) => !Object.is(v, b[j]));
    assert.is(i, -1, `${k}[${i}]: ${a[i]} without the profile, ${b[i]} with it`);
  }

  const byName = new Map<string, number>();
  for (const r of records) byName.set(r.name, (byName.get(r.name) ?? 0) + 1);
  const expected = await expectedTasks(model, 161, 127);
  assert.equal([...byName].sort(), [...expected.all].sort());
  const TASKS_A_FORWARD = 63;
  assert.is(records.length, TASKS_A_FORWARD, 'mobile0.25 runs 63 pool tasks a forward (13 conv_dw blocks fused, 6 SSH input pairs shared, 11 Winograd tasks, 2 upsamplings, each level\'s 3 heads as one, the softmax)');
  // Dispatched to both threads: the convolutions of at least PARALLEL_MIN_MACS, nothing else.
  const parallelByName = new Map<string, number>();
  for (const r of records) if (r.parallel) parallelByName.set(r.name, (parallelByName.get(r.name) ?? 0) + 1);
  assert.equal([...parallelByName].sort(), [...expected.parallel].sort());
  assert.ok(parallelByName.size > 0 && records.some((r) => !r.parallel && /^(winograd|dense|dwPw)$/.test(r.name)), 'some convolutions on both threads, some on the caller alone');
  const CLOCK_MS = 1e-3;
  let previousDone = -Infinity;
  for (const [i, r] of records.entries()) {
    const where = `task ${i} (${r.name}, ${r.parallel ? 'parallel' : 'caller alone'})`;
    assert.is(r.shares.length, r.parallel ? 2 : 1, `${where}: shares`);
    assert.is(r.pieces.reduce((a, b) => a + b, 0), r.parallel ? 2 * PIECES_PER_THREAD : 1, `${where}: pieces run ${r.pieces.join(' + ')}`);
    assert.ok(r.posted >= previousDone, `${where}: posted at ${r.posted} before the previous task was done (${previousDone})`);
    for (const [t, s] of r.shares.entries()) {
      assert.is(s === null, r.pieces[t] === 0, `${where}, thread ${t}: a share stamped exactly when it ran pieces`);
      if (s === null) continue;
      const [start, end] = s;
      // A worker cannot start before the task is posted nor end after the caller saw it done: this checks the shared clock too.
      // A worker's stamp is moved onto the caller's clock by the difference of two timeOrigins (~1.7e12 ms, where a double's
      // spacing is 0.24 us): its comparisons with the caller's own stamps hold to CLOCK_MS.
      const slack = t === 0 ? 0 : CLOCK_MS;
      assert.ok(r.posted <= start + slack && start <= end && end <= r.done + slack, `${where}, thread ${t}: posted ${r.posted}, share [${start}, ${end}], done ${r.done}`);
    }
    previousDone = r.done;
  }

  be.startProfile();
  assert.equal(be.stopProfile(), [], 'a profile with no forward in it is empty');
  be.startProfile();
  for (let pass = 0; pass <= PROFILE_TASKS / TASKS_A_FORWARD; pass++) await runNetwork(be, model, input);
  assert.throws(() => be.stopProfile(), (e: Error) => e.message.includes(`holds ${PROFILE_TASKS} tasks`) && e.message.includes('profile fewer forwards'));
  be.dispose();
});

test('arena: first fit, coalescing, and a free block at the top grows upward instead of leaving a hole', () => {
  // alloc(n) takes ceil((4 n + 128 slack) / 64) * 64 bytes; the first block starts at 64.
  const a = new Arena(new WebAssembly.Memory({ initial: 1, maximum: 16 }));
  const p = a.alloc(32), q = a.alloc(32); //   256 bytes each: [64, 320), [320, 576)
  assert.equal([p, q, a.highWater], [64, 320, 576]);
  a.release(p);
  const r = a.alloc(16); //                      192 bytes: first fit in the hole at 64
  assert.is(r, 64);
  a.release(q); //                               free: [256, 576), reaching the top
  const big = a.alloc(160); //                   768 bytes: no hole fits; grows from 256, not from 576
  assert.equal([big, a.highWater], [256, 1024]);
  a.release(r);
  a.release(big);
  assert.is(a.alloc(200), 64, 'everything freed coalesces into one block from the start');
  assert.throws(() => a.release(12345), /not an allocated block/);
});

test.run();
