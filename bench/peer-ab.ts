// Ours against onnxruntime-node, pass for pass: the ratio issue #16 sets its targets on, measured
// as paired ratios in one interleaved run. One process holds both: cpu-simd on the benchmark's
// seeded weights and onnxruntime-node (CPU EP, intra-op threads = --threads) on the same network
// exported by bench/torch/export_onnx.py (bench/e2e.ts prepareArch: needs PyTorch, cached in
// .cache/bench). Each pair runs one forward of each (alternating which goes first) with a pause
// of SETTLE_MS before each pass, so that onnxruntime's threads, which spin for tens of ms after a
// run (--spin), are idle when ours runs; a shared host's slow spells then hit both
// sides of a pair. Prints the median of
// the per-pair ratios (ours / onnxruntime-node) with its interquartile range, and each side's
// median forward.
//   node dist/bench/peer-ab.js [--arch ARCH] [--size WxH] [--threads N] [--pairs N] [--spin]
// --spin: instead, how long onnxruntime-node's threads keep a core after a run: our forward timed
// right after an onnxruntime-node forward and 10 to 1000 ms after, against ours alone (a
// 5 ms pause before each), --pairs passes each (what bench/config.ts SETTLE_MS is set from).
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBackend } from '../src/backends/index.js';
import { isArch, type Arch } from '../src/model/config.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { SEED, SETTLE_MS } from './config.js';
import { median, quantile } from './stats.js';
import { prepareArch } from './e2e.js';
import { openOnnxNode, runOnnxNode } from './peers/onnx_node.js';
import { repoRoot } from './peers/torch.js';

async function main(argv: readonly string[]): Promise<void> {
  let arch: Arch = 'mobile0.25', size = '640x640', threads = 1, pairs = 21, spin = false;
  for (let i = 0; i < argv.length; i++) {
    const v = () => { const x = argv[++i]; if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`); return x; };
    switch (argv[i]) {
      case '--arch': { const a = v(); if (!isArch(a)) throw new Error(`unknown arch ${a}`); arch = a; break; }
      case '--size': size = v(); break;
      case '--threads': threads = Number(v()); break;
      case '--pairs': pairs = Number(v()); break;
      case '--spin': spin = true; break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of bench/peer-ab.ts)`);
    }
  }
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (m === null) throw new Error('--size is WxH');
  const [width, height] = [Number(m[1]), Number(m[2])];
  const prep = await prepareArch(arch, path.join(repoRoot, '.cache', 'bench'), (s) => console.error(s));
  if (prep.onnx === undefined) throw new Error(`no ONNX model to compare with: ${prep.onnxSkipped}`);

  const model = buildRetinaFace(arch);
  fillRandomWeights(model, SEED, true); // the weights prepareArch wrote and exported
  const ours = await createBackend('cpu-simd', { threads });
  await ours.prepare(model);
  const peer = await openOnnxNode(prep.onnx, threads);
  const x = syntheticInput(height, width, SEED + width);

  const passOurs = async () => { const t0 = performance.now(); const o = await runNetwork(ours, model, x); return { ms: performance.now() - t0, o }; };
  const passPeer = async () => { const t0 = performance.now(); const o = await runOnnxNode(peer, x); return { ms: performance.now() - t0, o }; };
  // Warm-up, and the two agree: the same network on the same input.
  let a = await passOurs(), b = await passPeer();
  a = await passOurs(); b = await passPeer();
  if (spin) {
    for (const gap of [-1, 0, 10, 30, 100, 150, 300, 1000]) {
      const ms: number[] = [];
      for (let i = 0; i < pairs; i++) {
        if (gap < 0) await sleep(5);
        else { await passPeer(); if (gap > 0) await sleep(gap); }
        ms.push((await passOurs()).ms);
      }
      console.log(`${arch} ${size} cpu-simd ${threads} thread(s) ${gap < 0 ? 'alone (5 ms pause before each)' : `${gap} ms after an onnxruntime-node run`}: median ${median(ms).toFixed(1)} ms (${pairs} passes)`);
    }
    ours.dispose();
    await peer.session.release?.();
    return;
  }
  let worst = 0;
  for (let i = 0; i < a.o.conf.data.length; i++) worst = Math.max(worst, Math.abs(a.o.conf.data[i]! - b.o.conf.data[i]!));
  if (!(worst < 1e-3)) throw new Error(`ours and onnxruntime-node disagree: max |conf difference| ${worst}`);

  const ratios: number[] = [], tOurs: number[] = [], tPeer: number[] = [];
  for (let i = 0; i < pairs; i++) {
    let o, p;
    if (i % 2 === 0) { await sleep(SETTLE_MS); o = await passOurs(); await sleep(SETTLE_MS); p = await passPeer(); }
    else { await sleep(SETTLE_MS); p = await passPeer(); await sleep(SETTLE_MS); o = await passOurs(); }
    ratios.push(o.ms / p.ms); tOurs.push(o.ms); tPeer.push(p.ms);
  }
  const fma = (ours as { fma?: boolean }).fma === true ? ', fused multiply-add' : '';
  console.log(`${arch} ${size} ${threads} thread(s), ${pairs} pairs: cpu-simd${fma} ${median(tOurs).toFixed(1)} ms, onnxruntime-node ${median(tPeer).toFixed(1)} ms; ` +
    `ours / onnxruntime-node ${median(ratios).toFixed(2)} (interquartile ${quantile(ratios, 0.25).toFixed(2)}-${quantile(ratios, 0.75).toFixed(2)}); conf agree to ${worst.toExponential(1)}`);
  ours.dispose();
  await peer.session.release?.();
}

main(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => {
  console.error(`bench/peer-ab: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
