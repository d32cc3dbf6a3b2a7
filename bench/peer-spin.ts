// How long onnxruntime-node's threads keep a core after a run: cpu-simd's forward timed right after
// an onnxruntime-node forward, and 2, 10, 30 and 100 ms after, against cpu-simd alone (a 5 ms
// pause before each), both on the same threads count. What bench/config.ts SETTLE_MS is set from.
//   node dist/bench/peer-spin.js [--arch ARCH] [--size WxH] [--threads N] [--passes N]
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBackend } from '../src/backends/index.js';
import { isArch, type Arch } from '../src/model/config.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { SEED } from './config.js';
import { prepareArch } from './e2e.js';
import { openOnnxNode, runOnnxNode } from './peers/onnx_node.js';
import { repoRoot } from './peers/torch.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function main(argv: readonly string[]): Promise<void> {
  let arch: Arch = 'mobile0.25', size = '640x640', threads = 2, passes = 15;
  for (let i = 0; i < argv.length; i++) {
    const v = () => { const x = argv[++i]; if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`); return x; };
    switch (argv[i]) {
      case '--arch': { const a = v(); if (!isArch(a)) throw new Error(`unknown arch ${a}`); arch = a; break; }
      case '--size': size = v(); break;
      case '--threads': threads = Number(v()); break;
      case '--passes': passes = Number(v()); break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of bench/peer-spin.ts)`);
    }
  }
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (m === null) throw new Error('--size is WxH');
  const [width, height] = [Number(m[1]), Number(m[2])];
  const prep = await prepareArch(arch, path.join(repoRoot, '.cache', 'bench'), (s) => console.error(s));
  if (prep.onnx === undefined) throw new Error(`no ONNX model: ${prep.onnxSkipped}`);
  const model = buildRetinaFace(arch);
  fillRandomWeights(model, SEED, true);
  const ours = await createBackend('cpu-simd', { threads });
  await ours.prepare(model);
  const peer = await openOnnxNode(prep.onnx, threads);
  const x = syntheticInput(height, width, SEED + width);
  for (let i = 0; i < 3; i++) { await runNetwork(ours, model, x); await runOnnxNode(peer, x); }
  const oursMs = async () => { const t0 = performance.now(); await runNetwork(ours, model, x); return performance.now() - t0; };
  for (const gap of [-1, 0, 2, 10, 30, 100]) {
    const ms: number[] = [];
    for (let i = 0; i < passes; i++) {
      if (gap < 0) await sleep(5);
      else { await runOnnxNode(peer, x); if (gap > 0) await sleep(gap); }
      ms.push(await oursMs());
    }
    console.log(`${arch} ${size} cpu-simd ${threads} thread(s) ${gap < 0 ? 'alone (5 ms pause before each)' : `${gap} ms after an onnxruntime-node run`}: median ${median(ms).toFixed(1)} ms (${passes} passes)`);
  }
  ours.dispose();
  await peer.session.release?.();
}

if (process.argv[1] !== undefined && process.argv[1].endsWith(`${path.sep}peer-spin.js`)) {
  main(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => {
    console.error(`bench/peer-spin: ${(e as Error).message}`);
    process.exit(1);
  });
}
