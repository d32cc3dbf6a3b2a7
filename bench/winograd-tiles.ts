// One Winograd convolution (winogradPart) on one thread, F(2x2, 3x3) against F(4x4, 3x3), at the
// 3x3 stride-1 shapes of both architectures (docs/profile.md, "The seventeenth"), and what cutting
// it into the 8 pieces of a 2-thread task costs (all 8 run in turn on this thread: the sum of what
// two threads would do). Each tile's output is first checked against the other's (within cpu-simd's
// tolerance: both are checked against the naive loops in test/simd.test.ts). Medians of REPS
// (default 7) calls after one warm-up; GFLOP/s count the direct convolution's multiply-adds.
// Relaxed SIMD build where the engine has it, as the backend. Then the Winograd weights each
// network keeps in the arena, F(2x2) everywhere against the default tiles (winogradTileFor).
//   node dist/bench/winograd-tiles.js
import { nodeHost } from '../src/backends/simd_host.node.js';
import { winogradTileFor } from '../src/backends/cpu_simd.js';
import { lowerModel } from '../src/backends/lowering.js';
import { PIECES_PER_THREAD } from '../src/backends/simd_pool.js';
import { compareTensors } from '../src/harness/compare.js';
import { TOLERANCES } from '../src/harness/tolerances.js';
import { ARCHS } from '../src/model/config.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { GEMM_MR, packedDenseFloats } from '../src/ops/simd/gemm.js';
import { winogradPart, winogradPositions, winogradScratchBytes, winogradWeights, type WinogradArgs, type WinogradTile } from '../src/ops/simd/winograd.js';
import { randomTensor } from '../src/harness/random.js';
import { standaloneKernels } from '../src/harness/simd_kernels.js';
import { median } from './stats.js';


/** [what, C_in, C_out, H = W] */
const SHAPES: [string, number, number, number][] = [
  ['resnet50 layer1 conv2', 64, 64, 160],
  ['resnet50 layer2 conv2', 128, 128, 80],
  ['resnet50 layer3 conv2, fpn.merge2', 256, 256, 40],
  ['resnet50 layer4 conv2', 512, 512, 20],
  ['resnet50 fpn.merge1', 256, 256, 80],
  ['mobile0.25 fpn.merge1', 64, 64, 80],
  ['mobile0.25 fpn.merge2', 64, 64, 40],
  ['mobile0.25 ssh3.conv3X3 + conv5X5_1', 64, 48, 20],
  ['mobile0.25 ssh1.conv5X5_2 + conv7X7_2', 16, 32, 80],
];

async function main(): Promise<void> {
  const fma = nodeHost.relaxedSimd?.() ?? false;
  const { k, arena, put } = await standaloneKernels(fma);
  const reps = Number(process.env.REPS ?? 7);
  const pieces = 2 * PIECES_PER_THREAD;
  console.log(`winogradPart, one thread (${fma ? 'relaxed_madd' : 'mul + add'} build), median of ${reps}: ms (GFLOP/s) in one piece, ms in ${pieces} pieces`);
  console.log(`| shape | C_in -> C_out, H x W | F(2x2) | F(4x4) | F(4x4) / F(2x2) | F(2x2), ${pieces} pieces | F(4x4), ${pieces} pieces |`);
  console.log('|---|---|---|---|---|---|---|');
  for (const [what, cIn, cOut, h] of SHAPES) {
    const x = put(randomTensor([cIn, h, h], 1).data);
    const w = randomTensor([cOut, cIn, 3, 3], 2, -1 / Math.sqrt(9 * cIn), 1 / Math.sqrt(9 * cIn)).data;
    const padded = Math.ceil(cOut / GEMM_MR) * GEMM_MR;
    const bias = put(new Float32Array(padded)), zeros = put(new Float32Array(padded));
    const ms = new Map<string, number>();
    const outs: Float32Array[] = [];
    for (const tile of [2, 4] as WinogradTile[]) {
      const y = arena.alloc(cOut * h * h);
      const weights = put(winogradWeights(w, cOut, cIn, tile));
      const scratchBytes = winogradScratchBytes(cIn, cOut, h, h, tile);
      const scratch = arena.alloc(scratchBytes / 4);
      const a: WinogradArgs = {
        x, cIn, h, w: h, cOut, y, tile, weights, zeros, bias, slope: 0, hasSlope: 0, cOut1: 0, y2: 0, bias2: 0, slope2: 0, hasSlope2: 0, scratch, scratchBytes,
      };
      for (const n of [1, pieces]) {
        const times: number[] = [];
        for (let r = 0; r <= reps; r++) {
          const t0 = performance.now();
          for (let p = 0; p < n; p++) winogradPart(k, a, 0, p, n);
          if (r > 0) times.push(performance.now() - t0);
        }
        ms.set(`${tile}:${n}`, median(times));
      }
      outs.push(arena.floats(y, cOut * h * h).slice());
      for (const p of [weights, scratch, y]) arena.release(p);
    }
    const check = compareTensors(`${what} F(4x4) against F(2x2)`, { shape: [cOut, h, h], data: outs[1]! }, { shape: [cOut, h, h], data: outs[0]! }, TOLERANCES['cpu-simd']);
    if (!check.ok) throw new Error(check.message);
    const gflops = (key: string) => (2 * cOut * cIn * 9 * h * h) / ms.get(key)! / 1e6;
    const f = (key: string) => ms.get(key)!.toFixed(2);
    console.log(`| ${what} | ${cIn} -> ${cOut}, ${h}x${h} | ${f('2:1')} (${gflops('2:1').toFixed(0)}) | ${f('4:1')} (${gflops('4:1').toFixed(0)}) | ${(ms.get('4:1')! / ms.get('2:1')!).toFixed(2)} | ${f(`2:${pieces}`)} | ${f(`4:${pieces}`)} |`);
    for (const p of [x, bias, zeros]) arena.release(p);
  }
  console.log('\nWinograd weights in the arena (MB), each 3x3 stride-1 convolution\'s (m + 2)^2 packed matrices');
  console.log('| arch | 3x3 stride-1 convolutions | on F(4x4) by default | F(2x2) everywhere | the default tiles |');
  console.log('|---|---|---|---|---|');
  for (const arch of ARCHS) {
    const convs = [...lowerModel(buildRetinaFace(arch)).values()].filter((l) => l.kind === 'dense' && l.kernel === 3 && l.stride === 1);
    const bytes = (tile: (cIn: number) => WinogradTile) => convs.reduce((s, l) => s + 4 * winogradPositions(tile(l.cIn)) * packedDenseFloats(l.cOut, l.cIn), 0) / 2 ** 20;
    const on4 = convs.filter((l) => winogradTileFor(l.cIn) === 4).length;
    console.log(`| ${arch} | ${convs.length} | ${on4} | ${bytes(() => 2).toFixed(1)} | ${bytes((c) => winogradTileFor(c)).toFixed(1)} |`);
  }
}

await main();
