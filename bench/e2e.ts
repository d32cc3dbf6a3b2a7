// End to end, per arch, resolution and contestant: decode, preprocess, forward and post-process
// timed apart and in total, peak RSS (and live GPU objects where the backend counts them), our
// backends and the peers (onnxruntime-node, onnxruntime-web, PyTorch) in interleaved rounds on the
// same input with the same weights. Every contestant is checked on a small odd-sized input first.
import { spawnSync } from 'node:child_process';
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '../src/backends/cpu.js';
import type { Arch } from '../src/model/config.js';
import { namedParameters } from '../src/model/modules.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { runNetwork } from '../src/model/run.js';
import type { Tensor } from '../src/tensor.js';
import { writeTensorFile } from '../src/weights/files.js';
import { BACKENDS, optionalModule, Unavailable } from './backends.js';
import { CHECK_SIZE, E2E_TOLERANCE, HEADLINE_PEERS, HEADLINE_RESOLUTIONS, PEER_THREADS, SEED, SETTLE_MS, megapixels, resolutionName, type Budget, type Resolution } from './config.js';
import { startTorch, torchPython, torchScripts, type LineProcess } from './peers/torch.js';
import type { ContestantSpec, InitReply, Reply, Request, StopReply } from './protocol.js';
import type { E2EResult, Participant, Stage } from './results.js';
import { networkMacs } from './shapes.js';
import { summarize } from './stats.js';
import { fillRandomWeights, syntheticInput } from '../src/harness/weights.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface Contestant {
  name: string;
  kind: 'ours' | 'peer';
  threads: number;
  description: string;
  spec: ContestantSpec;
}

interface Channel {
  request(msg: Request): Promise<Reply>;
  kill(): void;
}

/** A forked bench/e2e_worker.js: Node IPC, one request at a time. */
function forkWorker(): Channel {
  const child = fork(path.join(here, 'e2e_worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let exit: string | undefined;
  const waiting: ((r: Reply) => void)[] = [];
  child.on('message', (m: Reply) => waiting.shift()?.(m));
  child.on('exit', (code, signal) => {
    exit = `worker exited (${signal ?? code})`;
    for (const w of waiting.splice(0)) w({ type: 'init', skipped: exit });
  });
  return {
    request: (msg) => exit !== undefined
      ? Promise.resolve({ type: 'init', skipped: exit })
      : new Promise((resolve) => { waiting.push(resolve); child.send(msg); }),
    kill: () => {
      child.kill();
      // A contestant that traps SIGTERM (playwright does, to close its browser) gets 2 s, then SIGKILL.
      setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); }, 2000).unref();
    },
  };
}

export interface Prepared {
  arch: Arch;
  weights: string;
  check: string;
  /** What the check outputs come from: 'PyTorch' when the export ran, else our CPU backend. */
  checkReference: string;
  onnx?: string;
  onnxSkipped?: string;
  torch?: { python: string; version: string };
  torchSkipped?: string;
}

/** Weights, the check file and (when PyTorch and the reference script are here) the ONNX export, in .cache/bench. */
export async function prepareArch(arch: Arch, cache: string, log: (s: string) => void): Promise<Prepared> {
  const dir = path.join(cache, arch);
  mkdirSync(dir, { recursive: true });
  const model = buildRetinaFace(arch);
  fillRandomWeights(model, SEED, true);
  const weights = path.join(dir, 'weights.rft');
  await writeTensorFile(weights, [...namedParameters(model)].map(([k, p]) => [k, { shape: p.shape, data: p.data }] as [string, Tensor]),
    { producer: 'bench/e2e.ts', seed: String(SEED) });
  const input = syntheticInput(CHECK_SIZE.height, CHECK_SIZE.width, SEED + 11);
  const inputFile = path.join(dir, 'check-input.rft');
  await writeTensorFile(inputFile, [['input', input]]);
  const p: Prepared = { arch, weights, check: '', checkReference: '' };
  try {
    p.torch = torchPython();
  } catch (e) {
    p.torchSkipped = (e as Error).message;
  }
  if (p.torch !== undefined) {
    const onnx = path.join(dir, 'model.onnx'), torchCheck = path.join(dir, 'check-torch.rft');
    // The export is deterministic in its inputs: reused while the weights, check input, script and torch are the same.
    const script = path.join(torchScripts, 'export_onnx.py');
    const stampFile = path.join(dir, 'export.stamp');
    const stamp = createHash('sha256').update(readFileSync(weights)).update(readFileSync(inputFile)).update(readFileSync(script))
      .update(p.torch.version).digest('hex');
    const fresh = existsSync(onnx) && existsSync(torchCheck) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp;
    if (!fresh) log(`${arch}: exporting ONNX with ${p.torch.python} (torch ${p.torch.version})`);
    const r = fresh ? { status: 0, stderr: '', error: undefined } : spawnSync(p.torch.python, [script, '--arch', arch, '--weights', weights,
      '--check', inputFile, '--onnx', onnx, '--torch-check', torchCheck], { encoding: 'utf8', timeout: 600_000 });
    if (!fresh && r.status === 0) writeFileSync(stampFile, stamp);
    if (r.status === 0 && existsSync(onnx)) {
      p.onnx = onnx;
      p.check = torchCheck;
      p.checkReference = `PyTorch ${p.torch.version}`;
    } else {
      const why = (r.stderr || String(r.error ?? '')).trim().split('\n').pop() ?? `exit ${r.status}`;
      p.onnxSkipped = `ONNX export failed: ${why}`;
      p.torchSkipped = why;
    }
  } else p.onnxSkipped = `no ONNX export without PyTorch: ${p.torchSkipped}`;
  if (p.check === '') {
    // Without PyTorch: our CPU backend's outputs (naive where affordable; fast is tested against naive in test/ops.test.ts).
    const naive = networkMacs(arch, CHECK_SIZE) < 2e8;
    const be = new CpuBackend(naive ? 'naive' : 'fast');
    await be.prepare(model);
    const out = await runNetwork(be, model, input);
    p.check = path.join(dir, 'check-cpu.rft');
    await writeTensorFile(p.check, [['input', input], ['loc', out.loc], ['conf', out.conf], ['landms', out.landms]]);
    p.checkReference = be.name;
  }
  return p;
}

export function contestants(prep: Prepared, onlyBackend: (n: string) => boolean): { list: Contestant[]; skipped: Participant[] } {
  const list: Contestant[] = [];
  const skipped: Participant[] = [];
  for (const e of BACKENDS) {
    if (!onlyBackend(e.name)) continue;
    if (e.endToEnd === false) { skipped.push({ name: e.name, description: e.description, threads: e.threads, skipped: 'kernels only (see bench/backends.ts)' }); continue; }
    list.push({ name: e.name, kind: 'ours', threads: e.threads, description: e.description, spec: { kind: 'ours', backend: e.name } });
  }
  for (const t of PEER_THREADS) {
    const peers: [string, string, ContestantSpec | string][] = [
      [`onnxruntime-node-${t}t`, 'onnxruntime-node, CPU EP', prep.onnx !== undefined ? { kind: 'onnx-node', threads: t, model: prep.onnx } : prep.onnxSkipped!],
      [`onnxruntime-web-${t}t`, 'onnxruntime-web, wasm SIMD', prep.onnx !== undefined ? { kind: 'onnx-web', threads: t, model: prep.onnx } : prep.onnxSkipped!],
      [`pytorch-${t}t`, `PyTorch ${prep.torch?.version ?? ''} CPU`.replace('  ', ' '), prep.torch !== undefined && prep.torchSkipped === undefined ? { kind: 'torch', threads: t } : prep.torchSkipped!],
    ];
    for (const [name, description, spec] of peers) {
      if (!onlyBackend(name)) continue;
      if (typeof spec === 'string') skipped.push({ name, description, threads: t, skipped: spec });
      else list.push({ name, kind: 'peer', threads: t, description, spec });
    }
  }
  return { list, skipped };
}

/** The image of a resolution: raw float32 input for everyone, and a JPEG of it when src/image can decode it. */
async function writeInputs(res: Resolution, dir: string): Promise<{ input: string; jpeg?: string }> {
  const name = resolutionName(res);
  const input = path.join(dir, `input-${name}.f32`);
  let x = syntheticInput(res.height, res.width, SEED + res.width);
  let jpeg: string | undefined;
  try {
    const dec = (await optionalModule('image/decode')).decodeImage as (b: Uint8Array, f: string) => { width: number; height: number; data: Uint8Array };
    const pre = (await optionalModule('image/preprocess')).toNetworkInput as (img: unknown) => Tensor;
    const jpegjs = (await import('jpeg-js')).default as { encode(img: { width: number; height: number; data: Uint8Array }, q: number): { data: Uint8Array } };
    // The synthetic (3, H, W) BGR-minus-mean tensor as an RGBA image, encoded once as the fixture.
    const rgba = new Uint8Array(res.width * res.height * 4);
    const mean = [104, 117, 123];
    for (let i = 0; i < res.width * res.height; i++) {
      for (let c = 0; c < 3; c++) rgba[4 * i + 2 - c] = x.data[c * res.width * res.height + i]! + mean[c]!;
      rgba[4 * i + 3] = 255;
    }
    jpeg = path.join(dir, `image-${name}.jpg`);
    writeFileSync(jpeg, jpegjs.encode({ width: res.width, height: res.height, data: rgba }, 90).data);
    x = pre(dec(new Uint8Array(jpegjs.encode({ width: res.width, height: res.height, data: rgba }, 90).data), jpeg));
  } catch (e) {
    if (!(e instanceof Unavailable)) throw e;
  }
  writeFileSync(input, new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength));
  return jpeg !== undefined ? { input, jpeg } : { input };
}

export interface E2EOptions {
  budget: Budget;
  archs: readonly Arch[];
  onlyBackend: (name: string) => boolean;
  deadline: number;
  cache: string;
  log: (line: string) => void;
}

export async function runEndToEnd(opts: E2EOptions): Promise<{ results: E2EResult[]; participants: Participant[]; notes: string[] }> {
  const { budget, log } = opts;
  const results: E2EResult[] = [];
  const participants = new Map<string, Participant>();
  const notes: string[] = [];
  /** Each contestant's forward ms per MAC where it was last timed, on any arch: the first prediction of the next arch. */
  const lastRate = new Map<string, Rate>();
  for (const [ai, arch] of opts.archs.entries()) {
    // Each arch gets an equal share of the time left (resnet50 is not starved by mobile0.25).
    const deadline = performance.now() + (opts.deadline - performance.now()) / (opts.archs.length - ai);
    if (performance.now() > opts.deadline) {
      notes.push(`${arch}: not run, the end-to-end section's deadline had passed`);
      continue;
    }
    const prep = await prepareArch(arch, opts.cache, log);
    const checkMacs = networkMacs(arch, CHECK_SIZE);
    notes.push(`${arch}: every contestant checked on a ${resolutionName(CHECK_SIZE)} input against ${prep.checkReference} (abs ${E2E_TOLERANCE.abs}, rel ${E2E_TOLERANCE.rel})`);
    const { list, skipped } = contestants(prep, opts.onlyBackend);
    for (const s of skipped) participants.set(s.name, s);
    for (const c of list) if (!participants.has(c.name)) participants.set(c.name, { name: c.name, description: c.description, threads: c.threads });
    /** Forward ms per MAC of each contestant at this arch's last resolution, to predict the next. */
    const rate = new Map<string, Rate>();
    const predict = (name: string): Rate | undefined => rate.get(name) ?? lastRate.get(name);
    const dir = path.join(opts.cache, arch);
    const order = headlineFirst(budget.resolutions);
    for (const [ri, res] of order.entries()) {
      // An equal share of the arch's time left per resolution, the headline ones first.
      const resDeadline = performance.now() + (deadline - performance.now()) / (order.length - ri);
      const rname = resolutionName(res);
      const macs = networkMacs(arch, res);
      const base = (c: Contestant): E2EResult => ({ arch, resolution: rname, megapixels: megapixels(res), contestant: c.name, kind: c.kind, threads: c.threads, stages: {}, macs });
      const files = await writeInputs(res, dir);
      const running: { c: Contestant; ch: Channel; r: E2EResult; ms: Partial<Record<Stage, number[]>>; first?: Partial<Record<Stage, number>>; firstAgain?: number; again?: number[] }[] = [];
      for (const c of list) {
        const r = base(c);
        const known = predict(c.name);
        if (performance.now() > resDeadline) { results.push({ ...r, skipped: 'this resolution\'s share of the end-to-end section reached' }); log(e2eLine(results.at(-1)!)); continue; }
        const uncapped = (HEADLINE_PEERS as readonly string[]).includes(c.name) && (HEADLINE_RESOLUTIONS as readonly string[]).includes(rname);
        const over = known !== undefined && !uncapped ? overCap(known, macs, budget) : undefined;
        if (over !== undefined) { results.push({ ...r, skipped: over }); log(e2eLine(results.at(-1)!)); continue; }
        if (participants.get(c.name)?.skipped !== undefined) { results.push({ ...r, skipped: participants.get(c.name)!.skipped! }); continue; }
        const ch: Channel = c.spec.kind === 'torch' ? startTorch(prep.torch!.python) as LineProcess : forkWorker();
        const init = await ch.request({ type: 'init', spec: c.spec, arch, weights: prep.weights, check: prep.check, tolerance: E2E_TOLERANCE }) as InitReply;
        if (init.skipped !== undefined || init.check === undefined || !init.check.ok) {
          const why = init.skipped ?? `failed check: ${init.check?.message ?? 'no check result'}`;
          results.push({ ...r, skipped: why, ...(init.check !== undefined ? { check: init.check } : {}) });
          if (init.skipped !== undefined) participants.set(c.name, { ...participants.get(c.name)!, skipped: init.skipped });
          ch.kill();
          continue;
        }
        r.check = init.check;
        if (known === undefined && !uncapped && init.checkForwardMs !== undefined) {
          // No resolution timed yet: the check pass predicts this one, so a slow contestant is capped at once.
          const fromCheck = { msPerMac: init.checkForwardMs / checkMacs, from: `its ${resolutionName(CHECK_SIZE)} check pass` };
          const why = overCap(fromCheck, macs, budget);
          if (why !== undefined) { results.push({ ...r, skipped: why }); log(e2eLine(results.at(-1)!)); ch.kill(); continue; }
        }
        if (init.missingStages !== undefined) r.missingStages = init.missingStages;
        running.push({ c, ch, r, ms: {} });
      }
      const job = { type: 'run' as const, height: res.height, width: res.width, input: files.input, ...(files.jpeg !== undefined ? { jpeg: files.jpeg } : {}) };
      // Round 0 is every contestant's first call; then its warm-up passes (planRounds); then interleaved steady rounds.
      let rounds = budget.rounds;
      for (let round = 0; round <= rounds; round++) {
        if (round > 1 && performance.now() > resDeadline) break; // the first call and one steady sample at least
        for (const e of running) {
          if (e.r.skipped !== undefined) continue;
          await sleep(SETTLE_MS); // the previous contestant's threads at rest (SETTLE_MS)
          const reply: Reply = await e.ch.request(job);
          const failed = runFailure(reply);
          if (failed !== undefined || reply.type !== 'run') {
            e.r.skipped = failed;
            continue;
          }
          const { forwardAgain, ...passMs } = reply.ms;
          const stages = { ...passMs, total: Object.values(passMs).reduce((s, v) => s + (v ?? 0), 0) } as Record<Stage, number>;
          if (round === 0) {
            e.first = stages;
            e.firstAgain = forwardAgain;
          } else {
            for (const [k, v] of Object.entries(stages)) (e.ms[k as Stage] ??= []).push(v);
            if (forwardAgain !== undefined) (e.again ??= []).push(forwardAgain);
          }
        }
        if (round === 0) {
          const live = running.filter((e) => e.r.skipped === undefined);
          const roundMs = live.reduce((s, e) => s + (e.first?.total ?? 0) + (e.firstAgain ?? 0), 0);
          const plan = planRounds(resDeadline - performance.now(), roundMs, budget, live.length);
          rounds = plan.rounds;
          // Each contestant's untimed warm-up passes, back to back, from the time those rounds leave;
          // a pass starts only if one as long as the last still ends in time.
          for (const e of live) {
            const end = performance.now() + plan.warmupMsEach;
            let passes = 0, passMs = 0;
            while (passes < budget.warmup.passes && performance.now() + passMs <= end) {
              const t0 = performance.now();
              const failed = runFailure(await e.ch.request(job));
              if (failed !== undefined) {
                e.r.skipped = failed;
                break;
              }
              passMs = performance.now() - t0;
              passes++;
            }
            e.r.warmupPasses = passes;
          }
        }
      }
      for (const e of running) {
        const stop = await e.ch.request({ type: 'stop' }) as StopReply;
        e.ch.kill();
        if (stop.type === 'stop') {
          e.r.peakRssMB = stop.peakRssMB;
          if (stop.liveObjects !== undefined) e.r.liveObjects = stop.liveObjects;
        }
        if (e.r.skipped !== undefined) log(e2eLine(e.r));
        if (e.r.skipped === undefined && e.first !== undefined) {
          for (const k of Object.keys(e.first) as Stage[]) e.r.stages[k] = summarize(e.first[k]!, e.ms[k] ?? []);
          if ((e.ms.forward?.length ?? 0) > 0) e.r.forwardRounds = e.ms.forward;
          if (e.again !== undefined && e.again.length === e.ms.forward?.length) e.r.forwardAgainRounds = e.again;
          const fwd = e.r.stages.forward!;
          const timed = { msPerMac: (fwd.samples > 0 ? fwd.medianMs : fwd.firstMs) / macs, from: `${arch} ${rname}` };
          rate.set(e.c.name, timed);
          lastRate.set(e.c.name, timed);
        }
        results.push(e.r);
        log(e2eLine(e.r));
      }
    }
  }
  return { results, participants: [...participants.values()], notes };
}

/** A contestant's measured forward speed and where it was measured. */
export interface Rate {
  msPerMac: number;
  from: string;
}

/** Why a contestant's pass failed (its skip reason), or undefined where it ran. */
export function runFailure(reply: Reply): string | undefined {
  if (reply.type === 'run' && reply.error === undefined) return undefined;
  return `run failed: ${reply.type === 'run' ? reply.error : reply.type === 'init' ? reply.skipped : 'no reply'}`;
}

/**
 * The timed rounds a resolution's `leftMs` allows after its first round (which took `roundMs`):
 * the budget's, fewer where they would not fit four times over, one at least; then each of the
 * `live` contestants' warm-up time (budget.warmup.seconds at most) from what those rounds, four
 * times over, leave. Where a round is long (resnet50's) nothing is left: no warm-up.
 */
export function planRounds(leftMs: number, roundMs: number, budget: Budget, live: number): { rounds: number; warmupMsEach: number } {
  const perRound = Math.max(roundMs, 1);
  const rounds = Math.max(1, Math.min(budget.rounds, Math.floor(leftMs / perRound / 4)));
  const spare = leftMs - 4 * rounds * perRound;
  const warmupMsEach = live > 0 && spare > 0 ? Math.min(1000 * budget.warmup.seconds, spare / live) : 0;
  return { rounds, warmupMsEach };
}

/** The skip reason when the predicted forward at `macs` is over the budget's cap, else undefined. */
export function overCap(r: Rate, macs: number, budget: Budget): string | undefined {
  const est = r.msPerMac * macs;
  if (est <= budget.e2eMaxCallSeconds * 1000) return undefined;
  const sec = est / 1000;
  return `predicted ${sec >= 10 ? sec.toFixed(0) : sec.toFixed(1)} s per forward (from ${r.from}) > cap ${budget.e2eMaxCallSeconds} s`;
}

/** The headline resolutions (config.ts) first, then the others in the grid's order. */
export function headlineFirst(resolutions: readonly Resolution[]): Resolution[] {
  const rank = (r: Resolution) => {
    const h = (HEADLINE_RESOLUTIONS as readonly string[]).indexOf(resolutionName(r));
    return h >= 0 ? h : HEADLINE_RESOLUTIONS.length + resolutions.indexOf(r);
  };
  return [...resolutions].sort((a, b) => rank(a) - rank(b));
}

export function e2eLine(r: E2EResult): string {
  const head = `${r.arch.padEnd(10)} ${r.resolution.padEnd(9)} ${r.contestant.padEnd(22)}`;
  if (r.skipped !== undefined) return `${head} skipped: ${r.skipped}`;
  const st = Object.entries(r.stages).map(([k, t]) => `${k} ${t!.medianMs.toFixed(1)}`).join(', ');
  return `${head} ${st} ms (first forward ${r.stages.forward?.firstMs.toFixed(1)} ms), peak RSS ${r.peakRssMB?.toFixed(0)} MB`;
}

