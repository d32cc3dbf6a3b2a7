// One 1x1 convolution on one thread, by one GEMM (packB + gemm per tile, dense.ts) against one
// level of Strassen (packStrassen + gemmStrassenM1-M7 per tile, strassen.ts), at ResNet-50's 1x1
// shapes at 640x640 (docs/profile.md, "The twenty-second"), with the parts of Strassen's time:
// its packing alone, and its seven products with their output updates against seven plain half-size
// gemm calls on the same operands (what the updates cost). Each shape's Strassen output is first
// checked against the GEMM's within cpu-simd's tolerance, and both against the sums in float64 (16
// output channels spread over C_out, every pixel): the worst |error| of each. Medians of REPS
// (default 15) calls after one warm-up; relaxed SIMD build where the engine has it, as the backend.
//   node dist/bench/strassen.js
import { nodeHost } from '../src/backends/simd_host.node.js';
import { compareTensors } from '../src/harness/compare.js';
import { randomTensor } from '../src/harness/random.js';
import { TOLERANCES } from '../src/harness/tolerances.js';
import { gemmTile } from '../src/ops/simd/dense.js';
import { GEMM_NR, packDenseWeights, packedDenseFloats } from '../src/ops/simd/gemm.js';
import { strassenApplies, strassenConvPart, strassenHalf, strassenScratchBytes, strassenTile, strassenWeights } from '../src/ops/simd/strassen.js';
import { standaloneKernels } from '../src/harness/simd_kernels.js';
import { median } from './stats.js';


/** [what, C_in, C_out, H = W] */
const SHAPES: [string, number, number, number][] = [
  ['layer1 conv3 (K below STRASSEN_MIN_CHANNELS)', 64, 256, 160],
  ['layer1 conv1 (C_out below STRASSEN_MIN_CHANNELS)', 256, 64, 160],
  ['layer2.0 conv1', 256, 128, 160],
  ['layer2 conv1', 512, 128, 80],
  ['layer2 conv3', 128, 512, 80],
  ['layer3.0 conv1, fpn.output1', 512, 256, 80],
  ['layer3 conv1, fpn.output2', 1024, 256, 40],
  ['layer3 conv3', 256, 1024, 40],
  ['layer4.0 conv1', 1024, 512, 40],
  ['layer4 conv1', 2048, 512, 20],
  ['layer4 conv3', 512, 2048, 20],
  ['fpn.output3', 2048, 256, 20],
  ['mobile0.25 fpn.output2 (C_out below)', 128, 64, 40],
  ['mobile0.25 fpn.output3 (C_out below)', 256, 64, 20],
];

async function main(): Promise<void> {
  const reps = Number(process.env.REPS ?? 15);
  const fma = nodeHost.relaxedSimd?.() ?? false;
  const { k, arena, put } = await standaloneKernels(fma);
  console.log(`1x1 convolutions, 1 thread (${fma ? 'relaxed_madd' : 'mul + add'} build), ms, median of ${reps}; Strassen / GEMM\n`);
  console.log('| shape | C_in -> C_out, map | GEMM | Strassen | ratio | its packing (packB) | its 7 products (7 plain gemm) | worst \\|error\\|: GEMM, Strassen |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [what, cIn, cOut, s] of SHAPES) {
    const P = s * s, K = cIn;
    const x = randomTensor([cIn, s, s], 1, 0, 2), w = randomTensor([cOut, cIn], 2, -1 / Math.sqrt(cIn), 1 / Math.sqrt(cIn));
    const bias = randomTensor([cOut], 3);
    const packed = new Float32Array(packedDenseFloats(cOut, K));
    packDenseWeights(w.data, cOut, packed);
    const xp = put(x.data), wp = put(packed), sp = put(strassenWeights(w.data, cOut, K)), bp = put(bias.data);
    const y1 = arena.alloc(cOut * P), y2 = arena.alloc(cOut * P);
    const T = gemmTile(K), TS = strassenTile(K);
    const col = arena.alloc(K * T);
    const scratchBytes = strassenScratchBytes(K, 1, 1, 0), ops = arena.alloc(scratchBytes / 4);
    const kh = K / 2, oh = cOut / 2, perBlock = 4 * packedDenseFloats(oh, kh);
    const gemmConv = () => {
      for (let p0 = 0; p0 < P; p0 += T) {
        const n = Math.min(T, P - p0);
        k.packB(xp + 4 * p0, P, K, n, col);
        k.gemm(wp, col, GEMM_NR, y1 + 4 * p0, P, bp, K, cOut, n, 0.1, 1, 4 * GEMM_NR * K);
      }
    };
    const strassen = () => strassenConvPart(k, { x: xp, cIn, h: s, w: s, kSize: 1, stride: 1, pad: 0, hOut: s, wOut: s, weights: sp, bias: bp, cOut, y: y2, slope: 0.1, hasSlope: 1, res: 0, scratch: ops, scratchBytes }, 0, 0, 1);
    const tiles = (body: (p0: number, n: number, h: number) => void) => () => {
      for (let p0 = 0; p0 < P; p0 += TS) { const n = Math.min(TS, P - p0); body(p0, n, strassenHalf(n)); }
    };
    const packOnly = tiles((p0, n, h) => k.packStrassen(xp + 4 * p0, P, K, n, h, ops));
    const packBOnly = () => { for (let p0 = 0; p0 < P; p0 += T) k.packB(xp + 4 * p0, P, K, Math.min(T, P - p0), col); };
    const gemms = [k.gemmStrassenM1, k.gemmStrassenM2, k.gemmStrassenM3, k.gemmStrassenM4, k.gemmStrassenM5, k.gemmStrassenM6, k.gemmStrassenM7];
    const products = tiles((p0, n, h) => {
      for (let i = 0; i < 7; i++) {
        gemms[i]!(sp + i * perBlock, ops + i * 4 * kh * h, kh, oh, h, 4 * GEMM_NR * kh, P, y2 + 4 * p0, Math.min(h, n), bp, y2 + 4 * (p0 + h), n - h, bp, 0, 0, 0);
      }
    });
    const plainProducts = tiles((p0, _n, h) => {
      for (let i = 0; i < 7; i++) k.gemm(sp + i * perBlock, ops + i * 4 * kh * h, GEMM_NR, y2 + 4 * (p0 >> 1), P, bp, kh, oh, h, 0, 0, 4 * GEMM_NR * kh);
    });
    let errors = '';
    if (strassenApplies(cIn, cOut)) {
      gemmConv(); strassen();
      const g = arena.floats(y1, cOut * P).slice(), st = arena.floats(y2, cOut * P).slice();
      const cmp = compareTensors(what, { shape: [cOut, P], data: st }, { shape: [cOut, P], data: g }, TOLERANCES['cpu-simd']);
      if (!cmp.ok) throw new Error(`${what}: Strassen and the GEMM disagree: ${cmp.message}`);
      let eg = 0, es = 0;
      for (let c = 0; c < 16; c++) {
        const o = Math.floor((c * cOut) / 16);
        for (let p = 0; p < P; p++) {
          let sum = bias.data[o]!;
          for (let i = 0; i < K; i++) sum += w.data[o * K + i]! * x.data[i * P + p]!;
          const want = sum < 0 ? 0.1 * sum : sum;
          eg = Math.max(eg, Math.abs(g[o * P + p]! - want));
          es = Math.max(es, Math.abs(st[o * P + p]! - want));
        }
      }
      errors = `${eg.toExponential(1)}, ${es.toExponential(1)}`;
    }
    const fns = [gemmConv, strassen, packOnly, packBOnly, products, plainProducts];
    const ms: number[][] = fns.map(() => []);
    for (const f of fns) f();
    for (let r = 0; r < reps; r++) {
      fns.forEach((f, i) => { const t0 = performance.now(); f(); ms[i]!.push(performance.now() - t0); });
    }
    const m = ms.map(median);
    console.log(`| ${what} | ${cIn} -> ${cOut}, ${s}x${s} | ${m[0]!.toFixed(2)} | ${m[1]!.toFixed(2)} | ${(m[1]! / m[0]!).toFixed(3)} | ${m[2]!.toFixed(2)} (${m[3]!.toFixed(2)}) | ${m[4]!.toFixed(2)} (${m[5]!.toFixed(2)}) | ${errors} |`);
    for (const p of [xp, wp, sp, bp, y1, y2, col, ops]) arena.release(p);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
