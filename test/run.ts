// `npm test`: every test file (dist/test/*.test.js, uvu) in its own process, in two lanes that run
// side by side on a 2-core machine, then one summary with each file's wall time.
//  - the browser lane, one file at a time: the tests that build or serve dist/browser/ (the
//    bundle, the precompiled .wasm, the demo) or pack the package, so no file reads the bundle
//    while another rebuilds it;
//  - the node lane: every other file, longest first (by the last run's times when .cache has
//    them), one at a time.
// Each file's output is printed whole when it ends (lanes do not interleave lines). Exit 1 when
// any file fails; every file still runs.
//   node dist/test/run.js [REGEX]          only the files whose name matches
//   RETINAFACE_TEST_LANES=1 node dist/test/run.js   one lane: every file in turn (timing a file alone)
//   RETINAFACE_TEST_STAMPS=1 node dist/test/run.js  each output line stamped with its file's elapsed seconds
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

/** The files that share dist/browser/ or the packed package: one at a time, in this order. */
export const BROWSER_LANE = [
  'browser_build.test.js', 'precompiled.test.js', 'first_minutes.test.js',
  'browser.test.js', 'browser_inputs.test.js', 'browser_worker.test.js', 'demo.test.js',
];

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

async function runLane(name: string, files: string[], report: (r: Result) => void): Promise<Result[]> {
  const out: Result[] = [];
  for (const f of files) {
    const r = await runFile(f, name);
    report(r);
    out.push(r);
  }
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
  const browser = BROWSER_LANE.filter((f) => files.includes(f));
  const node = files.filter((f) => !browser.includes(f)).sort((a, b) => (previous[b] ?? 0) - (previous[a] ?? 0) || a.localeCompare(b));
  const serial = process.env.RETINAFACE_TEST_LANES === '1';
  const started = performance.now();
  const clock = () => `${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s`;
  const report = (r: Result) => {
    const status = r.code === 0 ? 'passed' : `FAILED (exit ${r.code ?? 'by signal'})`;
    process.stdout.write(`\n=== ${r.file} [${r.lane} lane] ${status} in ${r.seconds.toFixed(1)} s (at ${clock()})\n${r.output.trimEnd()}\n`);
  };
  console.log(serial
    ? `test/run: ${files.length} files, one at a time`
    : `test/run: ${files.length} files in two lanes: browser (${browser.length}, in turn) beside node (${node.length}, longest first)`);
  const results = serial
    ? await runLane('single', [...browser, ...node], report)
    : (await Promise.all([runLane('browser', browser, report), runLane('node', node, report)])).flat();
  const wall = (performance.now() - started) / 1000;

  const times = { ...previous, ...Object.fromEntries(results.map((r) => [r.file, Math.round(r.seconds * 10) / 10])) };
  mkdirSync(path.dirname(timesFile), { recursive: true });
  const tmp = `${timesFile}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(times, null, 1) + '\n');
  renameSync(tmp, timesFile);

  const failed = results.filter((r) => r.code !== 0);
  const laneTotal = (lane: string) => results.filter((r) => r.lane === lane).reduce((s, r) => s + r.seconds, 0);
  console.log('\n=== wall time per file (s)');
  for (const r of [...results].sort((a, b) => b.seconds - a.seconds)) {
    console.log(`${r.seconds.toFixed(1).padStart(7)}  ${r.file} [${r.lane}]${r.code === 0 ? '' : '  FAILED'}`);
  }
  const lanes = serial ? `one lane ${laneTotal('single').toFixed(0)} s` : `browser lane ${laneTotal('browser').toFixed(0)} s, node lane ${laneTotal('node').toFixed(0)} s`;
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
