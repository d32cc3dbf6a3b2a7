// What reading the three outputs back costs, into fresh arrays (read(): what detectDetailed() and
// forward() hand out) against arrays kept from pass to pass (readInto: what detect() does,
// docs/architecture.md). Passes alternate between the two; each read is timed alone, after the
// pass, `--pause` ms after the previous one. cpu-simd, seeded weights.
//   node dist/bench/outputs.js [--arch mobile0.25] [--size 640x640] [--threads 2] [--passes 60] [--pause 5]
import { setTimeout as sleep } from 'node:timers/promises';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { keptOutputArrays, startPass } from '../src/model/run.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { numel, type Tensor } from '../src/tensor.js';
import { SEED } from './config.js';
import { archAndSize, option } from './profile_options.js';
import { median } from './stats.js';

const { arch, width, height } = archAndSize('mobile0.25');
const threads = Number(option('threads', '2')), passes = Number(option('passes', '60')), pause = Number(option('pause', '5'));
const model = buildRetinaFace(arch);
fillRandomWeights(model, SEED, true);
const be = new CpuSimdBackend({ threads });
await be.prepare(model);
const x = syntheticInput(height, width, SEED + 1);
const kept = keptOutputArrays();
const ms: Record<'fresh' | 'kept', number[]> = { fresh: [], kept: [] };
for (let i = 0; i < passes + 2; i++) {
  await sleep(pause);
  const pass = startPass(be, model, be.upload(x));
  const { out } = pass;
  const mode = i % 2 === 0 ? 'fresh' : 'kept';
  const t0 = performance.now();
  for (const [name, t] of Object.entries(out) as ['loc' | 'conf' | 'landms', Tensor][]) {
    if (mode === 'fresh') await be.read(t);
    else await be.readInto(t, kept.into(name, numel(t.shape)));
  }
  const t1 = performance.now();
  pass.end();
  if (i >= 2) ms[mode].push(t1 - t0); // the first of each: warm-up (and the kept arrays' own first touch)
}
be.dispose();
console.log(`${arch} ${width}x${height}, cpu-simd ${threads} thread(s), the three outputs read after each pass, medians of ${passes / 2} each, ${pause} ms pauses: ` +
  `into fresh arrays ${median(ms.fresh).toFixed(2)} ms, into kept arrays ${median(ms.kept).toFixed(2)} ms`);
