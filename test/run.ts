// `npm test`: every test file (dist/test/*.test.js, uvu) in its own process, two at a time on a
// 2-core machine, then one summary with each file's wall time.
//  - first, one at a time, the files that build dist/browser/ and dist/wasm/ (the bundle and the
//    precompiled kernels), so that no file reads them while they are rebuilt;
//  - then every other file, on two workers that each take the longest file left (the times of the
//    last run on this machine, from .cache/test-times.json, else EXPECTED_SECONDS: a fresh clone,
//    as in CI, has no cache), so the two finish close together.
// Each file's output is printed whole when it ends (lines of two files do not interleave). Exit 1
// when any file fails; every file still runs.
//   node dist/test/run.js [REGEX]          only the files whose name matches
//   RETINAFACE_TEST_LANES=1 node dist/test/run.js   one worker: every file in turn (timing a file alone)
//   RETINAFACE_TEST_STAMPS=1 node dist/test/run.js  each output line stamped with its file's elapsed seconds
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

/** The files that rebuild dist/browser/ or dist/wasm/: run first, one at a time. */
export const BUILD_FIRST = ['browser_build.test.js', 'precompiled.test.js'];

/**
 * Seconds per file on a fresh clone of this 2-core machine with two files running (CI's case),
 * for the order when .cache has no times of its own: the longest go first.
 */
const EXPECTED_SECONDS: Record<string, number> = {
  'browser.test.js': 270, 'demo.test.js': 210, 'gpu_network.test.js': 170, 'first_minutes.test.js': 86,
  'backend_ops.test.js': 70, 'runtimes.test.js': 58, 'network.test.js': 55, 'fuzz.test.js': 50,
  'detect_parity.test.js': 46, 'browser_worker.test.js': 45, 'reference.test.js': 28, 'explore.test.js': 110, 'kernels_page.test.js': 35, 'eval.test.js': 21,
};

interface Result {
  file: string;
  lane: string;
  seconds: number;
  code: number | null;
  output: string;
}

const timesFile = path.join(repoRoot, '.cache', 'test-times.json');

function lastTimes(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(timesFile, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

function runFile(file: string, lane: string): Promise<Result> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, file)], { cwd: repoRoot, env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '0' } });
    const chunks: string[] = [];
    // RETINAFACE_TEST_STAMPS=1: each line prefixed with the seconds since the file started (where its time goes)
    const stamps = process.env.RETINAFACE_TEST_STAMPS === '1';
    let atLineStart = true;
    const take = (b: Buffer) => {
      const text = b.toString('utf8');
      if (!stamps) return void chunks.push(text);
      const t = `[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] `;
      chunks.push((atLineStart ? t : '') + text.replace(/\n(?=.)/g, `\n${t}`));
      atLineStart = text.endsWith('\n');
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code, signal) => {
      resolve({ file, lane, seconds: (performance.now() - started) / 1000, code: signal === null ? code : null, output: chunks.join('') });
    });
  });
}

/** Runs `files` in turn, or, with `workers` > 1, that many at a time, each worker taking the next file of the list. */
async function runQueue(name: string, files: string[], workers: number, report: (r: Result) => void): Promise<Result[]> {
  const out: Result[] = [];
  let next = 0;
  const worker = async (k: number) => {
    while (next < files.length) {
      const f = files[next++]!;
      const r = await runFile(f, workers > 1 ? `${name} ${k + 1}` : name);
      report(r);
      out.push(r);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, k) => worker(k)));
  return out;
}

async function main(argv: string[]): Promise<number> {
  const only = argv[0] === undefined ? /./ : new RegExp(argv[0]);
  const files = readdirSync(here).filter((f) => f.endsWith('.test.js') && only.test(f)).sort();
  if (files.length === 0) {
    console.error(`test/run: no test file matches ${only}`);
    return 1;
  }
  const previous = lastTimes();
  const expected = (f: string) => previous[f] ?? EXPECTED_SECONDS[f] ?? 5;
  const first = BUILD_FIRST.filter((f) => files.includes(f));
  const rest = files.filter((f) => !first.includes(f)).sort((a, b) => expected(b) - expected(a) || a.localeCompare(b));
  const workers = process.env.RETINAFACE_TEST_LANES === '1' ? 1 : 2;
  const started = performance.now();
  const clock = () => `${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s`;
  const report = (r: Result) => {
    const status = r.code === 0 ? 'passed' : `FAILED (exit ${r.code ?? 'by signal'})`;
    process.stdout.write(`\n=== ${r.file} [${r.lane}] ${status} in ${r.seconds.toFixed(1)} s (at ${clock()})\n${r.output.trimEnd()}\n`);
  };
  console.log(`test/run: ${files.length} files: ${first.length} that build first, then ${rest.length} on ${workers} worker${workers === 1 ? '' : 's'}, longest first`);
  const results = [...await runQueue('build', first, 1, report), ...await runQueue('worker', rest, workers, report)];
  const wall = (performance.now() - started) / 1000;

  const times = { ...previous, ...Object.fromEntries(results.map((r) => [r.file, Math.round(r.seconds * 10) / 10])) };
  mkdirSync(path.dirname(timesFile), { recursive: true });
  const tmp = `${timesFile}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(times, null, 1) + '\n');
  renameSync(tmp, timesFile);

  const failed = results.filter((r) => r.code !== 0);
  console.log('\n=== wall time per file (s)');
  for (const r of [...results].sort((a, b) => b.seconds - a.seconds)) {
    console.log(`${r.seconds.toFixed(1).padStart(7)}  ${r.file} [${r.lane}]${r.code === 0 ? '' : '  FAILED'}`);
  }
  const busy = (lane: string) => results.filter((r) => r.lane === lane).reduce((s, r) => s + r.seconds, 0);
  const lanes = [...new Set(results.map((r) => r.lane))].map((l) => `${l} ${busy(l).toFixed(0)} s`).join(', ');
  console.log(`\n${results.length - failed.length} of ${results.length} files passed; ${lanes}; wall ${wall.toFixed(0)} s`);
  if (failed.length > 0) console.log(`FAILED: ${failed.map((r) => r.file).join(', ')}`);
  return failed.length > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
    console.error(`test/run: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 1;
  });
}
