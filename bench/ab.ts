// Before/after: the forward pass of two builds of this repository in one process, pass for pass.
// Each pair runs the two builds back to back (alternating which goes first), so that a shared
// machine's slow spells hit both sides of a pair; the figure is the median of the per-pair ratios
// (after / before), with its interquartile range. Random weights (seeded), cpu-simd.
//   node dist/bench/ab.js --before DIR --after DIR [--arch ARCH] [--size WxH] [--threads N] [--pairs N] [--tolerance R] [--pause MS]
//     [--threads-after N] [--options-before JSON] [--options-after JSON]
// --pause MS: a pause before each pass, longer than a build's threads poll for work after a task
// (simd_pool.ts SPIN_MS): without it, one build's polling worker takes a core from the other's
// first millisecond, and the A/B of a change to the polling measures that instead.
// --threads-after N: the after side on N threads (default --threads): with --before . --after .
// --threads 1 --threads-after 2 the ratio is one build's 2-thread forward over its 1-thread one,
// paired (its inverse is the two-thread speed-up).
// --options-before JSON, --options-after JSON: cpu-simd options of each side (CpuSimdOptions, e.g.
// '{"parallelMinMacs":1000000}'), so that one build A/Bs against itself with an option changed:
// --before . --after . --options-after '{"strassen":false}'.
// The two builds' outputs must agree bit for bit, or within the relative tolerance R where the
// change is meant to round differently (e.g. the fused multiply-add: --tolerance 1e-5).
// DIR: a checkout with `dist/` built (e.g. `git worktree add ../before REV`, node_modules
// linked, `npx tsc -p .` there).
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { median, quantile } from './stats.js';

interface Side {
  pass(): Promise<{ ms: number; probe: number }>;
}

/** Loads one build's model, backend and runner (before and after the move of runNetwork to model/run.ts). */
async function loadSide(root: string, arch: string, width: number, height: number, threads: number, options: Record<string, unknown>): Promise<Side> {
  const d = path.join(path.resolve(root), 'dist');
  const url = (rel: string) => pathToFileURL(path.join(d, rel)).href;
  const pick = (...rels: string[]) => rels.find((r) => existsSync(path.join(d, r)));
  const runFile = pick('src/model/run.js', 'src/model/retinaface.js');
  const randomFile = pick('src/harness/random_model.js', 'test/helpers/random_model.js');
  if (runFile === undefined || randomFile === undefined) throw new Error(`${root}: no built dist/ (run npx tsc -p . there)`);
  const { buildRetinaFace } = await import(url('src/model/retinaface.js'));
  const { runNetwork } = await import(url(runFile));
  const { randomizeModel } = await import(url(randomFile));
  const { createBackend } = await import(url('src/backends/index.js'));
  const { tensor } = await import(url('src/tensor.js'));
  const model = buildRetinaFace(arch);
  randomizeModel(model, 7);
  const be = await createBackend('cpu-simd', { ...options, threads });
  await be.prepare(model);
  const x = tensor([3, height, width]);
  for (let i = 0; i < x.data.length; i++) x.data[i] = ((i * 2654435761) % 1000) / 10 - 50;
  return {
    async pass() {
      const t0 = performance.now();
      const out = await runNetwork(be, model, x);
      return { ms: performance.now() - t0, probe: out.conf.data[5] + out.loc.data[100] };
    },
  };
}

/** A JSON object of cpu-simd options (threads is set by --threads). */
export function parseOptions(flag: string, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${flag}: not JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${flag}: expected a JSON object of cpu-simd options, got ${text}`);
  if ('threads' in parsed) throw new Error(`${flag}: set threads with --threads / --threads-after`);
  return parsed as Record<string, unknown>;
}

/** The options of each side that has any, for the result line. */
const optionsNote = (before: Record<string, unknown>, after: Record<string, unknown>) =>
  (Object.keys(before).length > 0 ? `, before ${JSON.stringify(before)}` : '') + (Object.keys(after).length > 0 ? `, after ${JSON.stringify(after)}` : '');

async function main(argv: readonly string[]): Promise<void> {
  const o = { before: '', after: '', arch: 'mobile0.25', size: '640x640', threads: 1, pairs: 40, tolerance: 0, pause: 0, threadsAfter: 0, optionsBefore: {} as Record<string, unknown>, optionsAfter: {} as Record<string, unknown> };
  for (let i = 0; i < argv.length; i++) {
    const v = () => { const x = argv[++i]; if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`); return x; };
    switch (argv[i]) {
      case '--before': o.before = v(); break;
      case '--after': o.after = v(); break;
      case '--arch': o.arch = v(); break;
      case '--size': o.size = v(); break;
      case '--threads': o.threads = Number(v()); break;
      case '--pairs': o.pairs = Number(v()); break;
      case '--tolerance': o.tolerance = Number(v()); break;
      case '--pause': o.pause = Number(v()); break;
      case '--threads-after': o.threadsAfter = Number(v()); break;
      case '--options-before': o.optionsBefore = parseOptions('--options-before', v()); break;
      case '--options-after': o.optionsAfter = parseOptions('--options-after', v()); break;
      default: throw new Error(`unknown option ${argv[i]} (see the header of bench/ab.ts)`);
    }
  }
  const m = /^(\d+)x(\d+)$/.exec(o.size);
  if (o.before === '' || o.after === '' || m === null) throw new Error('--before DIR and --after DIR are required; --size is WxH');
  const [width, height] = [Number(m[1]), Number(m[2])];
  const before = await loadSide(o.before, o.arch, width, height, o.threads, o.optionsBefore);
  const after = await loadSide(o.after, o.arch, width, height, o.threadsAfter || o.threads, o.optionsAfter);
  for (let i = 0; i < 2; i++) { await before.pass(); await after.pass(); } // warm-up: JIT, arenas at size
  const ratios: number[] = [], tb: number[] = [], ta: number[] = [];
  for (let i = 0; i < o.pairs; i++) {
    let a, b;
    const pause = () => (o.pause > 0 ? sleep(o.pause) : Promise.resolve());
    if (i % 2) { await pause(); a = await after.pass(); await pause(); b = await before.pass(); } else { await pause(); b = await before.pass(); await pause(); a = await after.pass(); }
    if (!(Math.abs(a.probe - b.probe) <= o.tolerance * Math.abs(b.probe))) throw new Error(`the two builds' outputs differ (${b.probe} vs ${a.probe}; --tolerance ${o.tolerance})`);
    ratios.push(a.ms / b.ms); tb.push(b.ms); ta.push(a.ms);
  }
  console.log(`${o.arch} ${o.size} cpu-simd ${o.threads}${o.threadsAfter && o.threadsAfter !== o.threads ? ` -> ${o.threadsAfter}` : ''} thread(s)${optionsNote(o.optionsBefore, o.optionsAfter)}, ${o.pairs} pairs: before ${median(tb).toFixed(1)} ms, after ${median(ta).toFixed(1)} ms; ` +
    `after / before ${median(ratios).toFixed(3)} (interquartile ${quantile(ratios, 0.25).toFixed(3)}-${quantile(ratios, 0.75).toFixed(3)})`);
}

if (process.argv[1] !== undefined && process.argv[1].endsWith(`${path.sep}ab.js`)) {
  main(process.argv.slice(2)).then(() => process.exit(0), (e: unknown) => {
    console.error(`bench/ab: ${(e as Error).message}`);
    process.exit(1);
  });
}
