// Long fuzz campaigns: `npm run fuzz -- --target NAME --minutes N [--seed S] [--slow-ms MS] [--out DIR]`
// (NAME: a target of targets.ts, or all). The campaign runs in a child process and this process is
// the watchdog, because neither a parser stuck in a loop nor one that aborts the process (a native
// assertion in a dependency) can report itself. Inputs come from the target's fast-check arbitrary
// in batches of fixed seeds (seed, batch), so a campaign replays exactly: the child announces each
// batch, and when it stops answering for --hang-s seconds or dies, the watchdog replays that batch
// in a new child that writes every input to a file before running it, so the file left behind is
// the input that hung or crashed. Every finding is saved to --out as text
// (property.ts showInput) and deduplicated by where it was thrown. At the end the worker reports
// V8's block coverage of the target's source files (the inspector's precise coverage): the
// fraction of their JavaScript bytes that ran at least once.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fork } from 'node:child_process';
import fc from 'fast-check';
import { parseInput, runOne, showInput } from './property.js';
import { TARGETS, targetByName, type FuzzInput } from './targets.js';

interface Options {
  target: string;
  minutes: number;
  seed: number;
  slowMs: number;
  hangS: number;
  out: string;
  replay: string | undefined;
  /** internal: run as the campaign child, or replay one batch input by input */
  child: 'campaign' | 'batch' | undefined;
  batch: number;
}

interface Report {
  target: string;
  seed: number;
  seconds: number;
  executions: number;
  accepted: number;
  refused: Record<string, number>;
  maxMs: number;
  findings: { signature: string; kind: string; message: string; count: number; file: string }[];
  coverage: Record<string, number>;
  hang?: string;
}

const BATCH = 200;

function parseOptions(argv: string[]): Options {
  const o: Options = { target: '', minutes: 1, seed: 1, slowMs: 5000, hangS: 30, out: '.cache/fuzz', replay: undefined, child: undefined, batch: 0 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (): number => {
      const v = Number(value());
      if (!Number.isFinite(v) || v < 0) throw new Error(`${flag} needs a non-negative number`);
      return v;
    };
    if (flag === '--target') o.target = value();
    else if (flag === '--minutes') o.minutes = num();
    else if (flag === '--seed') o.seed = Math.floor(num());
    else if (flag === '--slow-ms') o.slowMs = num();
    else if (flag === '--hang-s') o.hangS = num();
    else if (flag === '--out') o.out = value();
    else if (flag === '--replay') o.replay = value();
    else if (flag === '--child') o.child = value() === 'batch' ? 'batch' : 'campaign';
    else if (flag === '--batch') o.batch = Math.floor(num());
    else throw new Error(`unknown option ${flag} (options: --target NAME|all --minutes N --seed S --slow-ms MS --hang-s S --out DIR --replay FILE)`);
  }
  if (o.target === '') throw new Error(`--target is required: one of ${TARGETS.map((t) => t.name).join(', ')}, or all`);
  return o;
}

// ------------------------------------------------------------------------------- the child

type Message =
  | { type: 'batch'; batch: number }
  | { type: 'finding'; finding: Report['findings'][number] }
  | { type: 'progress'; executions: number; seconds: number }
  | { type: 'done'; report: Report };

const send = (m: Message): void => {
  process.send?.(m);
};

function batchInputs(arb: fc.Arbitrary<FuzzInput>, seed: number, batch: number): FuzzInput[] {
  return fc.sample(arb, { seed: seed * 1_000_003 + batch, numRuns: BATCH });
}

async function campaign(options: Options): Promise<Report> {
  const target = targetByName(options.target);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });

  const arb = target.arbitrary();
  const report: Report = { target: target.name, seed: options.seed, seconds: 0, executions: 0, accepted: 0, refused: {}, maxMs: 0, findings: [], coverage: {} };
  const bySignature = new Map<string, Report['findings'][number]>();
  mkdirSync(options.out, { recursive: true });
  const t0 = performance.now();
  const deadline = t0 + options.minutes * 60_000;
  let lastProgress = t0;
  for (let batch = 0; performance.now() < deadline; batch++) {
    send({ type: 'batch', batch });
    for (const input of batchInputs(arb, options.seed, batch)) {
      const v = await runOne(target, input, options.slowMs);
      report.executions++;
      report.maxMs = Math.max(report.maxMs, v.ms);
      if (v.ok) {
        if (v.outcome === 'accepted') report.accepted++;
        else report.refused[v.code ?? '?'] = (report.refused[v.code ?? '?'] ?? 0) + 1;
        continue;
      }
      const known = bySignature.get(v.signature);
      if (known !== undefined) {
        known.count++;
        continue;
      }
      const file = path.join(options.out, `${target.name}-${v.kind}-${bySignature.size}.txt`);
      writeFileSync(file, `${showInput(input)}\n`);
      const finding = { signature: v.signature, kind: v.kind, message: v.message, count: 1, file };
      bySignature.set(v.signature, finding);
      report.findings.push(finding);
      send({ type: 'finding', finding });
    }
    if (performance.now() - lastProgress > 30_000) {
      lastProgress = performance.now();
      send({ type: 'progress', executions: report.executions, seconds: (lastProgress - t0) / 1000 });
    }
  }
  report.seconds = (performance.now() - t0) / 1000;
  const { result } = await session.post('Profiler.takePreciseCoverage');
  report.coverage = blockCoverage(result, target.files);
  session.disconnect();
  return report;
}

/** Replays one batch, each input written to `file` before it runs: what is left there hung or crashed. */
async function replayBatch(options: Options, file: string): Promise<void> {
  const target = targetByName(options.target);
  for (const input of batchInputs(target.arbitrary(), options.seed, options.batch)) {
    writeFileSync(file, `${showInput(input)}\n`);
    await runOne(target, input, options.slowMs);
  }
  writeFileSync(file, '');
}

/** Fraction of each file's bytes (compiled JavaScript) inside a block that ran at least once. */
function blockCoverage(scripts: { url: string; functions: { ranges: { startOffset: number; endOffset: number; count: number }[] }[] }[],
  files: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const file of files) {
    const js = `/dist/${file.replace(/\.ts$/, '.js')}`;
    const script = scripts.find((s) => s.url.endsWith(js));
    if (script === undefined) { out[file] = 0; continue; }
    const ranges = script.functions.flatMap((f) => f.ranges).sort((a, b) => a.startOffset - b.startOffset || b.endOffset - a.endOffset);
    const length = Math.max(...ranges.map((r) => r.endOffset));
    const covered = new Uint8Array(length);
    // enclosing ranges come first: an inner block's count overrides its function's
    for (const r of ranges) covered.fill(r.count > 0 ? 1 : 0, r.startOffset, r.endOffset);
    out[file] = covered.reduce((n, c) => n + c, 0) / length;
  }
  return out;
}

// ------------------------------------------------------------------------------ the watchdog

function childArgs(options: Options, child: 'campaign' | 'batch', batch = 0): string[] {
  return ['--target', options.target, '--minutes', String(options.minutes), '--seed', String(options.seed), '--slow-ms', String(options.slowMs),
    '--out', options.out, '--child', child, '--batch', String(batch)];
}

/** Runs `args` in a child; resolves with its report, or with how it stopped (hang: killed by us). */
function watch(args: string[], hangS: number, onMessage: (m: Message) => void): Promise<{ report?: Report; stopped?: string; lastBatch: number }> {
  const child = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  let lastBatch = -1, report: Report | undefined, since = performance.now(), hung = false;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (performance.now() - since > hangS * 1000) {
        hung = true;
        child.kill('SIGKILL');
      }
    }, 500);
    child.on('message', (m: Message) => {
      since = performance.now();
      if (m.type === 'batch') lastBatch = m.batch;
      else if (m.type === 'done') report = m.report;
      onMessage(m);
    });
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      if (report !== undefined) resolve({ report, lastBatch });
      else resolve({ stopped: hung ? `no answer for ${hangS} s` : `exited (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(0, 3).join(' | ')}`, lastBatch });
    });
  });
}

async function runTarget(options: Options, name: string): Promise<Report> {
  const o = { ...options, target: name };
  const t0 = performance.now();
  const r = await watch(childArgs(o, 'campaign'), o.hangS, (m) => {
    if (m.type === 'finding') console.error(`${name}: finding ${m.finding.kind}: ${m.finding.message.split('\n')[0]}`);
    else if (m.type === 'progress') console.error(`${name}: ${m.executions} executions in ${m.seconds.toFixed(0)} s`);
  });
  if (r.report !== undefined) return r.report;
  // the child hung or died: find the input by replaying its last batch one input at a time
  const file = path.join(o.out, `${name}-crash-or-hang.txt`);
  mkdirSync(o.out, { recursive: true });
  const replay = await watch([...childArgs(o, 'batch', r.lastBatch), '--hang-s', String(o.hangS)], o.hangS, () => undefined);
  const input = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  return {
    target: name, seed: o.seed, seconds: (performance.now() - t0) / 1000, executions: BATCH * Math.max(0, r.lastBatch), accepted: 0, refused: {}, maxMs: 0, coverage: {},
    findings: [], hang: `${r.stopped}; batch ${r.lastBatch} replayed: ${input !== '' ? `${replay.stopped ?? 'finished'}, input in ${file}` : 'did not reproduce'}`,
  };
}

function summary(r: Report): string {
  const refused = Object.entries(r.refused).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
  const cov = Object.entries(r.coverage).map(([f, x]) => `${f} ${(100 * x).toFixed(1)}%`).join(', ');
  return [
    `${r.target}: ${r.executions} executions in ${r.seconds.toFixed(0)} s (${(r.executions / Math.max(r.seconds, 1e-9)).toFixed(0)}/s), seed ${r.seed}`,
    `  accepted ${r.accepted}; refused ${refused || 'none'}; slowest input ${r.maxMs.toFixed(1)} ms`,
    `  block coverage: ${cov || 'n/a'}`,
    r.hang !== undefined ? `  CRASH OR HANG: ${r.hang}` : `  findings: ${r.findings.length === 0 ? 'none' : ''}`,
    ...r.findings.map((f) => `    ${f.kind} x${f.count}: ${f.message.replace(/\n/g, '\\n')} (${f.signature}; input ${f.file})`),
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.child === 'campaign') {
    send({ type: 'done', report: await campaign(options) });
    process.disconnect?.();
    return;
  }
  if (options.child === 'batch') {
    await replayBatch(options, path.join(options.out, `${options.target}-crash-or-hang.txt`));
    process.disconnect?.();
    return;
  }
  if (options.replay !== undefined) {
    const input: FuzzInput = parseInput(readFileSync(options.replay, 'utf8').trim());
    const v = await runOne(targetByName(options.target), input, options.slowMs);
    console.log(JSON.stringify(v));
    process.exitCode = v.ok ? 0 : 1;
    return;
  }
  const names = options.target === 'all' ? TARGETS.map((t) => t.name) : [targetByName(options.target).name];
  let bad = 0;
  for (const name of names) {
    const r = await runTarget(options, name);
    console.log(summary(r));
    console.log(`json ${JSON.stringify({ ...r, findings: r.findings.map(({ kind, signature, count }) => ({ kind, signature, count })) })}`);
    if (r.hang !== undefined || r.findings.length > 0) bad++;
  }
  process.exitCode = bad > 0 ? 1 : 0;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 2;
});
