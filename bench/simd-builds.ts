// The kernel module's two builds (src/ops/simd/module.ts SimdBuild: multiply then add, or relaxed
// SIMD's fused relaxed_madd) kernel by kernel on one thread, beside the probe's multiply-add line
// (bench/probe.ts): the GEMM on L1-resident panels at the shapes of mobile0.25's pointwise layers,
// the depthwise kernels on whole planes. The three contestants run in turn in slices of ~2 MFLOP,
// 300 rounds, so that a shared host's slow spells hit all three alike; the figures are totals.
//   node dist/bench/simd-builds.js
// Prints GFLOP/s per build, the probe's GFLOP/s, and fused / separate time.
import { performance } from 'node:perf_hooks';
import { nodeHost } from '../src/backends/simd_host.node.js';
import { depthwisePart, depthwisePlaneFloats } from '../src/ops/simd/depthwise.js';
import { compileSimdModule, instantiateSimd } from '../src/ops/simd/module.js';
import type { SimdExports } from '../src/ops/simd/common.js';
import { GEMM_NR } from '../src/ops/simd/gemm.js';
import { simdProbeModule, SIMD_FLOPS_PER_ITER } from './probe.js';

const ROUNDS = 300;
const SLICE_FLOPS = 2e6;

async function main(): Promise<void> {
  if (nodeHost.relaxedSimd?.() !== true) throw new Error('relaxed SIMD is not available in this engine: nothing to compare');
  const memory = new WebAssembly.Memory({ initial: 1024 });
  const builds: SimdExports[] = [];
  for (const fma of [false, true]) builds.push(await instantiateSimd(await compileSimdModule({ initial: 1 }, { fma }), memory));
  const probe = new WebAssembly.Instance(new WebAssembly.Module(simdProbeModule())).exports.run as (n: number) => number;
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < f.length; i++) f[i] = ((i * 2654435761) % 1000) / 1e5; // small values: no overflow over the rounds
  const probeIters = Math.round(SLICE_FLOPS / SIMD_FLOPS_PER_ITER);

  const cases: { name: string; flops: number; run: (k: SimdExports) => void }[] = [];
  // gemm(w, x, xStride, y, yStride, bias, K, C_out, n, slope, hasSlope, blockBytes) on packB panels
  for (const [K, cOut, n] of [[8, 16, 256], [16, 32, 256], [32, 64, 128], [64, 64, 64], [128, 128, 32], [256, 256, 16]] as const) {
    const W = 0, X = 1 << 20, Y = 2 << 20, B = 3 << 20;
    cases.push({ name: `gemm K ${K}, C_out ${cOut}, ${n} pixels`, flops: 2 * K * cOut * n, run: (k) => k.gemm(W, X, GEMM_NR, Y, n, B, K, cOut, n, 0.1, 1, K * GEMM_NR * 4) });
  }
  for (const [c, stride, h, w] of [[32, 1, 160, 160], [128, 1, 40, 40], [16, 2, 160, 160], [64, 2, 80, 80]] as const) {
    const hOut = Math.ceil(h / stride), wOut = Math.ceil(w / stride);
    const args = { x: 0, c, h, w, stride, hOut, wOut, weights: 60 << 20, bias: 61 << 20, y: 20 << 20, slope: 0.1, hasSlope: 1, scratch: 62 << 20, scratchBytes: depthwisePlaneFloats(w) * 4 };
    cases.push({ name: `depthwise ${c} x ${h}x${w} stride ${stride}`, flops: 2 * 9 * c * hOut * wOut, run: (k) => depthwisePart(k, args, 0, 0, 1) });
  }

  for (const cs of cases) {
    const reps = Math.max(1, Math.round(SLICE_FLOPS / cs.flops));
    for (const k of builds) for (let i = 0; i < 20; i++) cs.run(k); // tier-up
    const t = [0, 0];
    let tp = 0;
    for (let round = 0; round < ROUNDS; round++) {
      builds.forEach((k, b) => {
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) cs.run(k);
        t[b]! += performance.now() - t0;
      });
      const t0 = performance.now();
      probe(probeIters);
      tp += performance.now() - t0;
    }
    const gf = (ms: number, flops: number) => ((ROUNDS * flops) / ms / 1e6).toFixed(1);
    console.log(`${cs.name.padEnd(36)} mul+add ${gf(t[0]!, reps * cs.flops).padStart(5)} GFLOP/s, relaxed_madd ${gf(t[1]!, reps * cs.flops).padStart(5)} GFLOP/s, ` +
      `probe ${gf(tp, probeIters * SIMD_FLOPS_PER_ITER).padStart(5)} GFLOP/s; fused / separate time ${(t[1]! / t[0]!).toFixed(2)}`);
  }
}

await main();
