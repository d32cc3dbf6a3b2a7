// Where a forward pass's time goes, module by module (issue #16's per-layer profile, its first
// half: the time per layer; the time each thread spends waiting needs the thread pool's own
// stamps and is not measured here). The forward runs on cpu-simd with seeded weights; each module
// report is stamped as it completes (src/model/anatomy.ts: the ops since the previous report are
// the reporting module's own), so the table's rows are the leaves of the module tree with their
// ops, MACs and GFLOP/s, over the median of --passes passes after one warm-up.
//   node dist/bench/profile.js [--arch mobile0.25] [--size 640x640] [--threads 2] [--passes 20]
import { createBackend } from '../src/backends/index.js';
import { anatomy, attribute, stamper } from '../src/model/anatomy.js';
import { isArch, type Arch } from '../src/model/config.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';
import { SEED } from './config.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const arch = option('arch', 'mobile0.25');
if (!isArch(arch)) throw new Error(`--arch ${arch}: mobile0.25 or resnet50`);
const m = /^(\d+)x(\d+)$/.exec(option('size', '640x640'));
if (m === null) throw new Error('--size WxH');
const [width, height] = [Number(m[1]), Number(m[2])];
const threads = Number(option('threads', '2'));
const passes = Number(option('passes', '20'));

const model = buildRetinaFace(arch as Arch);
fillRandomWeights(model, SEED, true);
const be = await createBackend('cpu-simd', { threads });
await be.prepare(model);
const x = syntheticInput(height, width, SEED + 1);
const shape = await anatomy(model, height, width);
const own = new Map<string, number[]>();
const forwards: number[] = [];
await runNetwork(be, model, x);
for (let i = 0; i < passes; i++) {
  const s = stamper(() => performance.now(), false);
  await runNetwork(be, model, x, s.selection);
  forwards.push(performance.now() - s.start);
  for (const [path, a] of attribute(s.stamps, s.start)) own.set(path, [...(own.get(path) ?? []), a.own]);
}
be.dispose?.();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const total = median(forwards);
// Leaves: modules that own ops (a parent whose children did all the work owns none).
const rows = shape.modules.map((mod) => {
  const mine = mod.ops.filter((o) => !shape.modules.some((c) => c.parent === mod.path && c.ops.includes(o)));
  const macs = mine.reduce((a, o) => a + o.macs, 0);
  return { path: mod.path, ops: mine.map((o) => (o.op === 'conv' ? o.kind! : o.op)).join(', '), macs, ms: median(own.get(mod.path) ?? [0]) };
}).filter((r) => r.ops !== '');
const stamped = rows.reduce((a, r) => a + r.ms, 0);
console.log(`${arch} ${width}x${height}, cpu-simd ${threads} thread(s), median of ${passes} passes: forward ${total.toFixed(1)} ms; ` +
  `the modules' medians add up to ${stamped.toFixed(1)} ms, the rest is the input's upload and the outputs' read back (and the medians' spread)`);
console.log('| module | own ops | MMAC | ms | share | GFLOP/s |\n|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| \`${r.path}\` | ${r.ops} | ${(r.macs / 1e6).toFixed(1)} | ${r.ms.toFixed(2)} | ${((100 * r.ms) / total).toFixed(1)} % | ${r.macs > 0 ? ((2 * r.macs) / (r.ms * 1e6)).toFixed(1) : ''} |`);
}
