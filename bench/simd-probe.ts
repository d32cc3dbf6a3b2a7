// My own timing of the cpu-simd backend (the benchmark suite proper lives elsewhere): whole
// mobile0.25 / resnet50 forward passes with seeded random weights (timing does not depend on
// values), cpu-simd at 1 and 2 threads interleaved with cpu-fast, medians and minima after
// warm-up, and a per-kind breakdown (dense 3x3, 1x1, depthwise, other ops) with GFLOP/s.
//
//   node dist/bench/simd-probe.js [arch=mobile0.25] [HxW ...] [reps=5] [fast=1] [threads=1,2] [winograd=1]
import type { Backend } from '../src/backend.js';
import { CpuBackend } from '../src/backends/cpu.js';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import type { Arch } from '../src/model/config.js';
import type { ConvBnAct } from '../src/model/modules.js';
import { lowerConv } from '../src/backends/lowering.js';
import { buildRetinaFace, type RetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import { conv2dMacs, conv2dOutputShape } from '../src/ops/conv2d.js';
import type { Tensor } from '../src/tensor.js';
import { randomTensor } from '../src/harness/random.js';
import { randomizeModel } from '../src/harness/random_model.js';
import { median } from './stats.js';


const kindOf = (u: ConvBnAct): string => lowerConv(u).label;

/**
 * Times every op by kind over `passes` forward passes (the ops are synchronous) and prints each
 * kind's fastest pass: on a shared machine the minimum is the least disturbed measurement.
 */
async function profile(be: Backend<Tensor>, model: RetinaFace, input: Tensor, passes: number): Promise<void> {
  const best = new Map<string, number>(), macs = new Map<string, number>();
  let pass = new Map<string, number>();
  const add = (k: string, t: number, m: number) => { pass.set(k, (pass.get(k) ?? 0) + t); if (m > 0 && best.size === 0) macs.set(k, (macs.get(k) ?? 0) + m); };
  const wrapped = Object.create(be) as Backend<Tensor>;
  wrapped.convBnAct = (x, u) => {
    const t0 = performance.now();
    const y = be.convBnAct(x, u);
    const out = conv2dOutputShape(x.shape, u.conv.weight.shape, { stride: u.conv.stride, padding: u.conv.padding, groups: u.conv.groups });
    add(kindOf(u), performance.now() - t0, conv2dMacs(out, u.conv.weight.shape));
    return y;
  };
  for (const op of ['add', 'interpolateNearest', 'cat', 'maxPool2d', 'headPermute', 'catRows', 'softmax', 'upload'] as const) {
    const f = (be[op] as (...a: unknown[]) => Tensor).bind(be);
    (wrapped as unknown as Record<string, unknown>)[op] = (...a: unknown[]) => {
      const t0 = performance.now();
      const y = f(...a);
      add(process.env.BY_OP ? op : 'other (add, cat, upsample, heads, softmax)', performance.now() - t0, 0);
      return y;
    };
  }
  let total = Infinity;
  for (let i = 0; i < passes; i++) {
    pass = new Map();
    const t0 = performance.now();
    await runNetwork(wrapped, model, input);
    total = Math.min(total, performance.now() - t0);
    for (const [k, t] of pass) best.set(k, Math.min(best.get(k) ?? Infinity, t));
  }
  console.log(`    fastest pass ${total.toFixed(1)} ms; per kind, fastest of ${passes}:`);
  for (const [k, t] of [...best].sort((a, b) => b[1] - a[1])) {
    const m = macs.get(k) ?? 0;
    console.log(`    ${k.padEnd(44)} ${t.toFixed(1).padStart(8)} ms  ${(m / 1e9).toFixed(3)} GMAC` +
      (m > 0 ? `  ${(2 * m / t / 1e6).toFixed(1)} GFLOP/s` : ''));
  }
}

async function main() {
  const args = process.argv.slice(2);
  const arch = (args.find((a) => a.startsWith('arch='))?.slice(5) ?? 'mobile0.25') as Arch;
  const reps = Number(args.find((a) => a.startsWith('reps='))?.slice(5) ?? 5);
  const withFast = (args.find((a) => a.startsWith('fast='))?.slice(5) ?? '1') === '1';
  const threadList = (args.find((a) => a.startsWith('threads='))?.slice(8) ?? '1,2').split(',').map(Number);
  const sizes = args.filter((a) => /^\d+x\d+$/.test(a)).map((a) => a.split('x').map(Number) as [number, number]);
  if (sizes.length === 0) sizes.push([640, 640]);
  const model = buildRetinaFace(arch);
  randomizeModel(model, 1);
  const backends: [string, Backend<Tensor>][] = [];
  for (const t of threadList) {
    const be = new CpuSimdBackend({ threads: t, winograd: (args.find((a) => a.startsWith('winograd='))?.slice(9) ?? '1') === '1' });
    await be.prepare(model);
    backends.push([`cpu-simd ${t} thread${t > 1 ? 's' : ''}`, be]);
  }
  if (withFast) {
    const fast = new CpuBackend('fast');
    await fast.prepare(model);
    backends.push(['cpu-fast', fast]);
  }
  for (const [h, w] of sizes) {
    const input = randomTensor([3, h, w], 2, -120, 150);
    const times = new Map<string, number[]>(backends.map(([n]) => [n, []]));
    // CPU time of the process (all its threads): on a machine shared with other jobs, time the
    // thread was descheduled does not count, so for one thread it approximates an idle machine.
    const cpu = new Map<string, number[]>(backends.map(([n]) => [n, []]));
    const first = new Map<string, number>();
    for (const [n, be] of backends) {
      const t0 = performance.now();
      await runNetwork(be, model, input);
      first.set(n, performance.now() - t0);
    }
    for (let r = 0; r < reps; r++) {
      for (const [n, be] of backends) {
        if (n === 'cpu-fast' && r >= Math.max(1, Math.ceil(reps / 3))) continue;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await runNetwork(be, model, input);
        times.get(n)!.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu.get(n)!.push((c.user + c.system) / 1000);
      }
    }
    console.log(`${arch} ${h}x${w}`);
    for (const [n] of backends) {
      const t = times.get(n)!;
      console.log(`  ${n.padEnd(20)} median ${median(t).toFixed(1).padStart(8)} ms  min ${Math.min(...t).toFixed(1).padStart(8)} ms  ` +
        `cpu median ${median(cpu.get(n)!).toFixed(1).padStart(8)} ms  (first ${first.get(n)!.toFixed(0)} ms, runs ${t.map((x) => x.toFixed(0)).join(' ')})`);
    }
    for (const [n, be] of backends) {
      if (n === 'cpu-fast') continue;
      console.log(`  ${n} profile:`);
      await profile(be, model, input, reps);
    }
  }
  for (const [, be] of backends) be.dispose();
}
await main();
