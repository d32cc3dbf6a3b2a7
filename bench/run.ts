// The benchmark entry: `node dist/bench/run.js --quick | --full [options]` (npm run bench:quick,
// npm run bench). Writes the run's JSON to .cache/bench/ (or, with --publish, to
// bench/results/published.json, the run docs/benchmarks.md is generated from) and prints one line
// per case. Options:
//   --only REGEX       kernel cases whose id matches (e.g. 'depthwise|head')
//   --backends REGEX   backends and peers whose name matches (e.g. 'cpu-fast|onnxruntime-node')
//   --sections LIST    probe,kernels,e2e,profile (default all; profile: bench/profile.ts on mobile0.25
//                      at 640x640, 2 threads, in a child process, its JSON kept in the run)
//   --archs LIST       mobile0.25,resnet50 (default both; --quick: mobile0.25)
//   --res LIST         override the resolution grid, e.g. 96x64,320x320 (development)
//   --out FILE         where to write the JSON
//   --publish          write bench/results/published.json
//   --engine E         steady-state sampler of the kernel suites: benny (default) or plain (one call per sample)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ARCHS, isArch, type Arch } from '../src/model/config.js';
import { openBackends } from './backends.js';
import { BUDGETS, type Budget, type Mode, type Resolution } from './config.js';
import { runEndToEnd } from './e2e.js';
import { runKernelSuite } from './kernels.js';
import { repoRoot, torchPython } from './peers/torch.js';
import { probeMachine } from './probe.js';
import { SCHEMA_VERSION, serializeRun, type ProfileRun, type RunResult } from './results.js';
import type { Engine } from './stats.js';

export interface Args {
  mode: Mode;
  only: RegExp;
  backends: RegExp;
  sections: Set<string>;
  archs: Arch[];
  res?: Resolution[];
  out?: string;
  publish: boolean;
  engine: Engine;
}

export function parseArgs(argv: readonly string[]): Args {
  const a: Args = { mode: 'quick', only: /.*/, backends: /.*/, sections: new Set(['probe', 'kernels', 'e2e', 'profile']), archs: [...ARCHS], publish: false, engine: 'benny' };
  let modeSet = false, archsSet = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--quick': case '--full': a.mode = flag === '--quick' ? 'quick' : 'full'; modeSet = true; break;
      case '--only': a.only = new RegExp(value()); break;
      case '--backends': a.backends = new RegExp(value()); break;
      case '--sections': a.sections = new Set(value().split(',')); break;
      case '--archs': archsSet = true; a.archs = value().split(',').map((s) => { if (!isArch(s)) throw new Error(`unknown arch ${s}`); return s; }); break;
      case '--res': a.res = value().split(',').map((s) => {
        const m = /^(\d+)x(\d+)$/.exec(s);
        if (m === null) throw new Error(`--res: ${s} is not WIDTHxHEIGHT`);
        return { width: Number(m[1]), height: Number(m[2]) };
      }); break;
      case '--out': a.out = value(); break;
      case '--publish': a.publish = true; break;
      case '--engine': {
        const e = value();
        if (e !== 'benny' && e !== 'plain') throw new Error(`--engine: ${e} is not benny or plain`);
        a.engine = e;
        break;
      }
      default: throw new Error(`unknown option ${flag} (see the header of bench/run.ts)`);
    }
  }
  if (!modeSet) throw new Error('say --quick or --full');
  // --quick times mobile0.25 end to end only (resnet50's forward passes alone would take the two minutes).
  if (!archsSet && a.mode === 'quick') a.archs = ['mobile0.25'];
  for (const s of a.sections) if (!['probe', 'kernels', 'e2e', 'profile'].includes(s)) throw new Error(`unknown section ${s}`);
  return a;
}

function packageVersion(name: string): string | undefined {
  const file = path.join(repoRoot, 'node_modules', name, 'package.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : undefined;
}

function versions(): Record<string, string> {
  const v: Record<string, string> = { node: process.versions.node, v8: process.versions.v8 };
  const own = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  v['retinaface-ts'] = own.version;
  for (const p of ['gpu.js', 'onnxruntime-node', 'onnxruntime-web', 'playwright-core', 'benny']) {
    const ver = packageVersion(p);
    if (ver !== undefined) v[p] = ver;
  }
  try { v.torch = torchPython().version; } catch { /* reported as a skipped peer */ }
  return v;
}

/** The per-layer profile the headline asks for: mobile0.25 at 640x640 on 2 threads (bench/profile.ts, its own process). */
function profileSection(cache: string, log: (s: string) => void): ProfileRun | undefined {
  const file = path.join(cache, 'profile.json');
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'profile.js');
  const args = ['--arch', 'mobile0.25', '--size', '640x640', '--threads', '2', '--passes', '20', '--json', file];
  log(`profile: node ${path.relative(repoRoot, script)} ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [script, ...args], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  if (r.status !== 0) return undefined;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as ProfileRun;
  log(`profile: forward ${profile.forwardMs.toFixed(1)} ms${profile.replayedForwardMs === undefined ? '' : ` (replayed ${profile.replayedForwardMs.toFixed(1)} ms)`}, ${profile.forward.tasks} tasks (${profile.forward.dispatches} dispatched), caller waiting ${(100 * profile.callerWaitShare).toFixed(1)} %`);
  return profile;
}

export async function main(argv: readonly string[]): Promise<RunResult> {
  const args = parseArgs(argv);
  const budget: Budget = args.res !== undefined ? { ...BUDGETS[args.mode], resolutions: args.res } : BUDGETS[args.mode];
  const started = new Date();
  const t0 = performance.now();
  const log = (s: string) => console.log(s);
  const cache = path.join(repoRoot, '.cache', 'bench');
  mkdirSync(cache, { recursive: true });
  const cpus = os.cpus();
  const result: RunResult = {
    schema: SCHEMA_VERSION, mode: args.mode, started: started.toISOString(), durationS: 0,
    command: `node dist/bench/run.js ${argv.join(' ')}`,
    machine: {
      cpu: cpus[0]?.model ?? 'unknown', cores: os.availableParallelism(), memoryGB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      hostHash: createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8),
    },
    versions: versions(), backends: [], peers: [], kernels: [], e2e: [], notes: [],
  };
  log(`retinaface-ts bench --${args.mode}: ${result.machine.cpu}, ${result.machine.cores} cores, node ${process.versions.node}`);

  if (args.sections.has('probe')) {
    result.probe = await probeMachine(budget.sectionSeconds.probe * 1000 / 8);
    const p = result.probe;
    log(`machine peak: scalar ${p.scalarGflops1t.toFixed(1)} GFLOP/s (1 thread), ${p.scalarGflopsAll.toFixed(1)} (${p.threads}); ` +
      `wasm SIMD ${p.simdGflops1t.toFixed(1)} (1 thread), ${p.simdGflopsAll.toFixed(1)} (${p.threads})`);
  }

  const opened = await openBackends((n) => args.backends.test(n));
  result.backends = opened.map((o) => ({ name: o.entry.name, description: o.entry.description, threads: o.entry.threads, ...(o.skipped !== undefined ? { skipped: o.skipped } : {}) }));
  for (const o of opened) if (o.skipped !== undefined) log(`backend ${o.entry.name} skipped: ${o.skipped}`);

  if (args.sections.has('kernels')) {
    const deadline = performance.now() + budget.sectionSeconds.kernels * 1000;
    result.kernels = await runKernelSuite(opened, { budget, only: (id) => args.only.test(id), deadline, log, engine: args.engine });
  }
  for (const o of opened) o.backend?.dispose();
  if (args.sections.has('kernels')) result.notes.push(`kernel section: ${((performance.now() - t0) / 1000).toFixed(0)} s from the start of the run`);

  if (args.sections.has('e2e')) {
    const deadline = performance.now() + budget.sectionSeconds.e2e * 1000;
    const e2e = await runEndToEnd({ budget, archs: args.archs, onlyBackend: (n) => args.backends.test(n), deadline, cache, log });
    result.e2e = e2e.results;
    result.peers = e2e.participants.filter((p) => !result.backends.some((b) => b.name === p.name));
    result.notes.push(...e2e.notes);
    for (const p of result.peers) if (p.skipped !== undefined) log(`peer ${p.name} skipped: ${p.skipped}`);
  }

  if (args.sections.has('profile')) {
    result.profile = profileSection(cache, log);
    if (result.profile === undefined) result.notes.push('profile: bench/profile.ts failed (see the run\'s output)');
  }

  result.durationS = (performance.now() - t0) / 1000;
  const out = args.out ?? (args.publish
    ? path.join(repoRoot, 'bench', 'results', 'published.json')
    : path.join(cache, `${started.toISOString().replace(/[:.]/g, '-')}-${result.machine.hostHash}.json`));
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, serializeRun(result));
  log(`wrote ${path.relative(repoRoot, out)} (${result.durationS.toFixed(0)} s)`);
  return result;
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop()!) && process.argv[1].endsWith('run.js')) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`bench: ${(e as Error).message}`);
    process.exit(1);
  });
}
