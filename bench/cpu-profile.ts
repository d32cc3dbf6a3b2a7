// Where a forward pass's time goes by function: V8's sampling profiler (node:inspector) over
// --passes forwards on cpu-simd with seeded weights, after one untimed forward, each kernel of the
// WebAssembly module named (bench/self_time.ts). The profiler samples the calling thread only: with
// --threads 1 that is the whole forward; with more it is the caller's share and its waiting.
// docs/profile.md reads it for ResNet-50 ("Where ResNet-50's time goes, kernel by kernel").
//   node dist/bench/cpu-profile.js [--arch resnet50] [--size 640x640] [--threads 1] [--passes 4] [--top 16]
import { Session } from 'node:inspector/promises';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { buildSimdModule, SIMD_MEMORY } from '../src/ops/simd/module.js';
import { SEED } from './config.js';
import { archAndSize, option } from './profile_options.js';
import { selfTimes, type CpuProfile } from './self_time.js';
import { median } from './stats.js';

const { arch, width, height } = archAndSize('resnet50');
const threads = Number(option('threads', '1'));
const passes = Number(option('passes', '4'));
const top = Number(option('top', '16'));

// The module's functions in index order (both builds, plain and fma, add the same functions in the same order).
const wasmNames = WebAssembly.Module.exports(new WebAssembly.Module(buildSimdModule(SIMD_MEMORY.shared)))
  .filter((e) => e.kind === 'function').map((e) => e.name);

// The profiler starts before the kernels are compiled (see self_time.ts); prepare and the untimed forward are left out by time.
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
await session.post('Profiler.start');
const started = performance.now();
const model = buildRetinaFace(arch);
fillRandomWeights(model, SEED, true);
const be = new CpuSimdBackend({ threads });
await be.prepare(model);
const x = syntheticInput(height, width, SEED + 1);
await runNetwork(be, model, x);
const fromUs = (performance.now() - started) * 1000;
const forwards: number[] = [];
for (let i = 0; i < passes; i++) {
  const t0 = performance.now();
  await runNetwork(be, model, x);
  forwards.push(performance.now() - t0);
}
const { profile } = await session.post('Profiler.stop');
session.disconnect();
const [nThreads, fma] = [be.threads, be.fma];
be.dispose();

const rows = selfTimes(profile as unknown as CpuProfile, wasmNames, fromUs);
console.log(`${arch} ${width}x${height}, cpu-simd ${nThreads} thread(s)${fma ? ', fused multiply-add' : ''}, ${passes} forwards profiled (median ${median(forwards).toFixed(1)} ms); the calling thread's self time per forward:\n`);
console.log('| function | ms / forward | share |\n|---|---|---|');
for (const r of rows.slice(0, top)) console.log(`| \`${r.name}\` | ${(r.ms / passes).toFixed(1)} | ${(100 * r.share).toFixed(1)} % |`);
const rest = rows.slice(top).reduce((s, r) => s + r.ms, 0);
if (rest > 0) console.log(`| the other ${rows.length - top} | ${(rest / passes).toFixed(1)} | ${(100 * rest / rows.reduce((s, r) => s + r.ms, 0)).toFixed(1)} % |`);
