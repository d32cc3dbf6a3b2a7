// Kernel-level timing of the SIMD convolutions on one thread (my own probe; the benchmark suite
// proper lives elsewhere): GFLOP/s per conv kind at mobile0.25's 640x640 shapes, beside the
// JS 'fast' twins, interleaved A/B, medians.
import { foldBatchNorm } from '../src/ops/batch_norm2d.cpu.js';
import { conv2dOutputShape } from '../src/ops/conv2d.js';
import { conv2dGemm, depthwiseConv3x3, packConvWeights } from '../src/ops/conv2d_fast.cpu.js';
import { denseConvPart, denseScratchBytes } from '../src/ops/simd/dense.js';
import { depthwisePart, depthwisePlaneFloats } from '../src/ops/simd/depthwise.js';
import { GEMM_MR, packDenseWeights, packedDenseFloats } from '../src/ops/simd/gemm.js';
import { standaloneKernels } from '../src/harness/simd_kernels.js';
import { randomTensor } from '../src/harness/random.js';
import { median } from './stats.js';


async function main() {
  const { k, arena, put } = await standaloneKernels();
  const reps = Number(process.env.REPS ?? 9);
  const cases: [string, number, number, number, number, number, number][] = [
    ['3x3 64->64 80x80 (FPN merge1)', 64, 64, 3, 1, 80, 80],
    ['3x3 64->32 80x80 (SSH conv3X3)', 64, 32, 3, 1, 80, 80],
    ['3x3 16->16 80x80 (SSH 5x5_2)', 16, 16, 3, 1, 80, 80],
    ['1x1 64->64 80x80 (stage1 pw)', 64, 64, 1, 1, 80, 80],
    ['1x1 128->128 40x40 (stage2 pw)', 128, 128, 1, 1, 40, 40],
    ['1x1 32->64 160x160 (pw)', 32, 64, 1, 1, 160, 160],
    ['3x3 s2 3->8 640x640 (stem)', 3, 8, 3, 2, 640, 640],
    ['dw 3x3 s1 32 160x160', 32, 32, 3, 1, 160, 160],
    ['dw 3x3 s2 64 160x160', 64, 64, 3, 2, 160, 160],
  ];
  for (const [name, cin, cout, ks, stride, h, w] of cases) {
    const dw = name.startsWith('dw');
    const x = randomTensor([cin, h, w], 1);
    const wt = randomTensor(dw ? [cout, 1, 3, 3] : [cout, cin, ks, ks], 2);
    const bn = { weight: randomTensor([cout], 3, 0.5, 1.5), bias: randomTensor([cout], 4), running_mean: randomTensor([cout], 5), running_var: randomTensor([cout], 6, 0.5, 1.5) };
    const f = foldBatchNorm(wt, null, bn);
    const pad = (ks - 1) / 2;
    const attrs = { stride, padding: pad, groups: dw ? cin : 1 };
    const [, hOut, wOut] = conv2dOutputShape(x.shape, wt.shape, attrs);
    const macs = cout * hOut * wOut * (dw ? 9 : cin * ks * ks);
    const xp = put(x.data);
    const y = arena.alloc(cout * hOut * wOut);
    let runSimd: () => void, runJs: () => void;
    if (dw) {
      const scratchBytes = depthwisePlaneFloats(w) * 4;
      const args = { x: xp, c: cin, h, w, stride, hOut, wOut, weights: put(f.w.data), bias: put(f.b.data), y, slope: 0.1, hasSlope: 1, scratch: arena.alloc(scratchBytes / 4), scratchBytes };
      runSimd = () => depthwisePart(k, args, 0, 0, 1);
      runJs = () => depthwiseConv3x3(x, f.w, f.b, stride, 0.1);
    } else {
      const packed = new Float32Array(packedDenseFloats(cout, cin * ks * ks));
      packDenseWeights(f.w.data, cout, packed);
      const bias = new Float32Array(Math.ceil(cout / GEMM_MR) * GEMM_MR); bias.set(f.b.data);
      const scratchBytes = denseScratchBytes(cin, ks, stride);
      const args = { x: xp, cIn: cin, h, w, kSize: ks, stride, pad, hOut, wOut, weights: put(packed), bias: put(bias), cOut: cout, y, slope: 0.1, hasSlope: 1, res: 0, scratch: arena.alloc(scratchBytes / 4 + 1), scratchBytes };
      runSimd = () => denseConvPart(k, args, 0, 0, 1);
      const pj = packConvWeights(f.w, f.b, attrs);
      runJs = () => conv2dGemm(x, pj, 0.1);
    }
    const ts: number[] = [], tj: number[] = [];
    runSimd();
    if (process.env.JS !== '0') runJs(); else tj.push(NaN);
    for (let r = 0; r < reps; r++) {
      let t0 = performance.now(); runSimd(); ts.push(performance.now() - t0);
      if (process.env.JS === '0') continue;
      t0 = performance.now(); runJs(); tj.push(performance.now() - t0);
    }
    const gf = (ms: number) => ((2 * macs) / ms / 1e6).toFixed(1);
    console.log(`${name.padEnd(34)} simd ${median(ts).toFixed(2).padStart(7)} ms ${gf(median(ts)).padStart(5)} GFLOP/s | js-fast ${median(tj).toFixed(2).padStart(7)} ms ${gf(median(tj)).padStart(5)} GFLOP/s | x${(median(tj) / median(ts)).toFixed(1)}`);
  }
}
await main();
