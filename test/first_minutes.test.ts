// What a new user meets first (issue 14): a fast default backend that says why it was chosen;
// the visible faces by default and the reference's full list beside them; a process that exits
// when its work is done, with or without dispose(); a disposed detector that says so; concurrent
// detect() calls that give the faces of sequential ones; ailia's short flags and JSON; a --help
// that lists detect's options by group; weights/manifest.json as the resolver's source; a tarball
// with a licence and no dangling source maps that installs lean (no gpu.js, no native build).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.js';
import { RetinaFace, RetinaFaceError, type Face } from '../src/index.js';
import type { BackendSpec } from '../src/backend.js';
import { CpuSimdBackend } from '../src/backends/cpu_simd.js';
import { clipFace } from '../src/detector.js';
import { buildRetinaFace } from '../src/model/retinaface.js';
import { encodeImage } from '../src/image/encode.js';
import { rgbImage } from '../src/image/image.js';
import { offline, OFFICIAL_CHECKPOINTS, readManifest } from '../src/weights/resolve.js';
import { groupCropPng } from './helpers/group_crop.js';
import { cacheDir, officialCheckpoint, repoRoot, sharedImage } from './helpers/paths.js';

process.env.RETINAFACE_CACHE = cacheDir('home');
process.env.RETINAFACE_WEIGHTS_DIR = path.dirname(officialCheckpoint());
process.env.RETINAFACE_OFFLINE = '1';

/**
 * A generous bound on a script that loads, detects once on the group photo and ends: about 2 s of
 * work on this 2-core machine. Not a timing assertion: a process that never exits would hit it.
 */
const EXIT_BOUND_MS = 120_000;
const dir = mkdtempSync(path.join(os.tmpdir(), 'retinaface first minutes-'));
const group = sharedImage('wider_group.jpg');

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

// ---------------------------------------------------------------- the default backend
test('the default backend is auto: cpu-simd here (Node has WebAssembly SIMD), and it says why', async () => {
  const d = await RetinaFace.load();
  try {
    assert.is(d.backendName, 'cpu-simd');
    assert.is(d.backendWhy, 'auto chose cpu-simd: WebAssembly SIMD compiles here');
  } finally {
    d.dispose();
  }
  const explicit = await RetinaFace.load({ backend: 'cpu' });
  assert.is(explicit.backendName, 'cpu-fast');
  assert.is(explicit.backendWhy, 'requested');
  explicit.dispose();
});

test('auto falls back to cpu where WebAssembly SIMD does not compile, and says so', async () => {
  const compile = WebAssembly.compile;
  // What an engine without SIMD answers for the v128 type (0x7b) of the kernel module.
  WebAssembly.compile = () => Promise.reject(new WebAssembly.CompileError('WebAssembly.compile(): invalid value type 0x7b'));
  let d: RetinaFace;
  try {
    d = await RetinaFace.load();
  } finally {
    WebAssembly.compile = compile;
  }
  try {
    assert.is(d.backendName, 'cpu-fast');
    assert.is(d.backendWhy, 'auto chose cpu: WebAssembly SIMD does not compile here (WebAssembly.compile(): invalid value type 0x7b)');
    assert.is((await d.detect(group)).length, VISIBLE_ON_GROUP, 'the fallback finds the same visible faces');
  } finally {
    d.dispose();
  }
});

test('the CLI says which backend runs and why on stderr (not with -q), and in the -b line', async () => {
  const r = await cli('-i', group, '-s', path.join(dir, 'line.png'), '-b', '-c', '1', '--threads', '2');
  assert.is(r.code, 0, r.err.join('\n'));
  const line = 'cpu-simd, 2 threads, fused multiply-add (auto chose cpu-simd: WebAssembly SIMD compiles here)';
  assert.ok(r.err.includes(`retinaface: backend ${line}`), `stderr: ${JSON.stringify(r.err)}`);
  assert.ok(r.out[0]!.includes(`-> network 1024x624, ${line}, median of 1 runs`), r.out[0]);
  const quiet = await cli('-i', group, '-s', path.join(dir, 'quiet.png'), '-q', '--backend', 'cpu');
  assert.equal(quiet.err, [], '-q: nothing on stderr');
});

test('--backend gpujs-auto says which gpu.js mode it chose and why the better ones were skipped', async () => {
  // a 64x48 PNG keeps the gpu.js forward short in whatever mode is chosen
  const small = path.join(dir, 'small.png');
  writeFileSync(small, encodeImage(rgbImage(64, 48, new Uint8Array(64 * 48 * 3).fill(128)), 'png'));
  const r = await cli('-i', small, '-s', path.join(dir, 'small-out.png'), '--backend', 'gpujs-auto');
  assert.is(r.code, 0, r.err.join('\n'));
  const line = r.err.find((l) => l.startsWith('retinaface: backend '));
  console.log(`  [gpujs-auto] ${line}`);
  // webgpu comes first in gpu.js's order and has no adapter in Node: it is always skipped, with its reason
  assert.match(line ?? '', /^retinaface: backend gpujs-(\w+) \(gpujs-auto chose (\w+): .*; skipped webgpu: /);
  const [, mode, chose] = /gpujs-(\w+) \(gpujs-auto chose (\w+)/.exec(line!)!;
  assert.is(mode, chose);
});

// ---------------------------------------------------------------- visible faces by default
/**
 * wider_group.jpg with the official mobile0.25: PyTorch's detect.py keeps 163 faces and draws the
 * 26 with score >= 0.6 (test/detect_parity.test.ts checks both against PyTorch).
 */
const VISIBLE_ON_GROUP = 26;

test('detect() returns the faces with score >= visThreshold (0.6); detectDetailed adds every candidate', async () => {
  const d = await RetinaFace.load({ backend: 'cpu-simd', threads: 2 });
  try {
    const faces = await d.detect(group);
    assert.is(faces.length, VISIBLE_ON_GROUP);
    assert.ok(faces.every((f) => f.score >= Math.fround(0.6)));
    const all = await d.detectDetailed(group);
    assert.equal(all.faces, faces);
    // every face the reference keeps, best first; `faces` is its prefix at the threshold
    assert.ok(all.candidates.length > faces.length, `${all.candidates.length} candidates`);
    assert.equal(all.candidates.slice(0, faces.length), faces);
    assert.ok(all.candidates[faces.length]!.score < Math.fround(0.6));
    assert.equal(await d.detect(group, { visThreshold: 0 }), all.candidates, 'visThreshold 0: the reference list');
    const strict = await d.detect(group, { visThreshold: 0.9 });
    assert.equal(strict, all.candidates.filter((f) => f.score >= Math.fround(0.9)));
    assert.ok(strict.length > 0 && strict.length < faces.length, `${strict.length} faces at 0.9`);
  } finally {
    d.dispose();
  }
});

test('RetinaFace.detect(path) and detectDetailed(path, { raw: false }) read the outputs into the arrays the detector keeps; detectDetailed reads fresh ones; errors name the file', async () => {
  const d = await RetinaFace.load({ backend: 'cpu-simd', threads: 2 });
  try {
    const be = d.backend as CpuSimdBackend;
    const read = be.readInto!.bind(be);
    const into: Float32Array[][] = [];
    be.readInto = async (x, dst) => { into.at(-1)!.push(dst); return read(x, dst); };
    const call = async <T>(f: () => Promise<T>) => { into.push([]); return f(); };
    const faces = await call(() => d.detect(group));
    const again = await call(() => d.detect(group));
    const whole = await call(() => d.detectDetailed(group));
    const summary = await call(() => d.detectDetailed(group, { raw: false }));
    assert.is(faces.length, VISIBLE_ON_GROUP);
    assert.equal(again, faces);
    assert.equal(whole.faces, faces);
    assert.equal(summary.faces, faces);
    assert.equal(summary.candidates, whole.candidates);
    assert.not.ok('raw' in summary, 'raw: false hands out no raw outputs');
    const [first, second, fresh, kept] = into as [Float32Array[], Float32Array[], Float32Array[], Float32Array[]];
    assert.is(first.length, 3, 'detect() reads loc, conf and landms into arrays it is given');
    first.forEach((a, i) => assert.ok(second[i] === a && kept[i] === a, `output ${i}: the same kept array call after call`));
    assert.is(fresh.length, 0, 'detectDetailed() reads fresh arrays, the caller\'s');
    assert.ok(![whole.raw.loc.data, whole.raw.conf.data, whole.raw.landms.data].some((a) => first.includes(a)));
    const bad = await d.detectDetailed(group, { raw: 'no' as unknown as boolean }).then(() => null, (x: unknown) => x);
    assert.ok(bad instanceof RetinaFaceError && bad.code === 'EOPTION' && /option raw/.test(bad.message), String(bad));
    // detect() hands out faces only: it takes no raw option (nor does a worker detector's detect(), test/browser_worker.test.ts)
    const rawToDetect = await d.detect(group, { raw: false } as never).then(() => null, (x: unknown) => x);
    assert.ok(rawToDetect instanceof RetinaFaceError && rawToDetect.code === 'EOPTION' && rawToDetect.message === 'unknown option raw', String(rawToDetect));
    const missing = path.join(dir, 'no such photo.jpg');
    const e = await d.detect(missing).then(() => null, (x: unknown) => x);
    assert.ok(e instanceof RetinaFaceError && e.message.includes(missing), String(e));
  } finally {
    d.dispose();
  }
});

test('clip: true clips boxes and landmarks to the image; the default leaves them as the reference does', async () => {
  const d = await RetinaFace.load({ backend: 'cpu-simd', threads: 2 });
  try {
    const { candidates, width, height } = await d.detectDetailed(group, { visThreshold: 0 });
    const outside = (f: Face) => [...f.box, ...f.landmarks.flat()].some((v, i) => v < 0 || v > (i % 2 ? height : width));
    assert.ok(candidates.some(outside), 'unclipped, some faces at the border reach past it (so this test can fail)');
    const clipped = await d.detect(group, { visThreshold: 0, clip: true });
    assert.equal(clipped, candidates.map((f) => clipFace(f, width, height)));
    assert.not.ok(clipped.some(outside));
    // by hand: the best face past the border is the 0.84 one in the top-right corner, (990.8, -2.2)
    // to (1028.5, 39.0) on the 1024-wide photo: clipped, y1 = 0 and x2 = 1024, the rest unchanged
    const i = candidates.findIndex(outside);
    const [x1, y1, x2, y2] = candidates[i]!.box;
    assert.ok(y1 < 0 && x2 > width && x1 > 0 && y2 < height, `${candidates[i]!.box}`);
    assert.equal(clipped[i]!.box, [x1, 0, width, y2]);
    const e = await d.detect(group, { clip: 'yes' as unknown as boolean }).then(() => null, (x: unknown) => x);
    assert.ok(e instanceof RetinaFaceError && e.code === 'EOPTION', String(e));
  } finally {
    d.dispose();
  }
});

test('a script that never calls dispose() exits when its work is done (cpu-simd, 2 threads)', () => {
  const script = path.join(dir, 'no-dispose.mjs');
  const index = path.join(repoRoot, 'dist', 'src', 'index.js');
  writeFileSync(script, `import { RetinaFace } from ${JSON.stringify(index)};\n` +
    `const d = await RetinaFace.load({ backend: 'cpu-simd', threads: 2 });\n` +
    `const f = await d.detect(${JSON.stringify(group)});\nconsole.log(\`faces \${f.length}\`);\n`);
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: EXIT_BOUND_MS, env: process.env });
  assert.is(r.signal, null, `the script was killed after ${EXIT_BOUND_MS} ms: it did not exit by itself (stderr: ${r.stderr})`);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^faces \d+$/m, `stdout: ${JSON.stringify(r.stdout)}, stderr: ${JSON.stringify(r.stderr)}`);
});

test('a CLI run that the runtime ends before it settles exits 1 with one line, never 0', () => {
  // What Deno did with cpu-simd before the workers' unref moved after 'ready' (issue 23): the event
  // loop emptied while the run was pending, and the process exited 0 having written nothing.
  const script = path.join(dir, 'stall.mjs');
  writeFileSync(script, `import { runAsProcess } from ${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'cli.js'))};\n` +
    'runAsProcess(() => new Promise(() => {}));\n');
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: EXIT_BOUND_MS });
  assert.is(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n'), ['retinaface: internal error: the process is ending before its work was done (nothing left to wait on); nothing was completed']);
});

const CPU_BACKENDS: BackendSpec[] = ['cpu-naive', 'cpu', 'cpu-simd'];

for (const backend of CPU_BACKENDS) {
  test(`${backend}: concurrent detect() calls equal sequential ones; after dispose() every call rejects with EDISPOSED`, async () => {
    const d = await RetinaFace.load({ backend });
    // A 320x240 crop of the group photo (several faces of 30-60 px) keeps cpu-naive quick: ~4 s
    // for the five passes, where the whole photo took 90 s.
    const bytes = groupCropPng('first-minutes').png;
    const sequential = [await d.detect(bytes), await d.detect(bytes, { rescale: 2 })];
    const concurrent = await Promise.all([d.detect(bytes), d.detect(bytes, { rescale: 2 }), d.detect(bytes)]);
    assert.equal(concurrent[0], sequential[0]);
    assert.equal(concurrent[1], sequential[1]);
    assert.equal(concurrent[2], sequential[0]);
    d.dispose();
    d.dispose(); // idempotent
    for (const call of [() => d.detect(bytes), () => d.detectDetailed(bytes), () => d.forward({ shape: [3, 32, 32], data: new Float32Array(3 * 32 * 32) })]) {
      const e = await call().then(() => null, (x: unknown) => x);
      assert.ok(e instanceof RetinaFaceError, `a call after dispose() rejects with RetinaFaceError, got ${String(e)}`);
      assert.is((e as RetinaFaceError).code, 'EDISPOSED');
      assert.match((e as Error).message, /the detector was disposed/);
    }
  });
}

test('ailia flags: -w is --write_json, -r is --rescale, --json_format ailia writes its list', async () => {
  const out = path.join(dir, 'ailia.png');
  const r = await cli('-i', group, '-s', out, '-w', '-r', '2', '--json_format', 'ailia', '-q', '--backend', 'cpu-simd');
  assert.is(r.code, 0, r.err.join('\n'));
  const json = JSON.parse(readFileSync(out.replace(/\.png$/, '.json'), 'utf8')) as { bbox_xyxy: number[]; prob: number; landmarks: number[][] }[];
  const shown = Number(/: (\d+) faces/.exec(r.out[0]!)![1]);
  assert.ok(shown > 0, 'faces found at --rescale 2');
  assert.is(json.length, shown, 'one entry per face reported');
  for (const f of json) {
    assert.is(f.bbox_xyxy.length, 4);
    assert.ok(f.prob >= 0.6 && f.prob <= 1, `prob ${f.prob} at or above the default vis_thres`);
    assert.is(f.landmarks.length, 5);
    assert.ok(f.landmarks.every((p) => p.length === 2));
  }
  // The same run without -r: at rescale 2 the network saw a quarter of the pixels.
  const full = await cli('-i', group, '-s', path.join(dir, 'full.png'), '-q', '--backend', 'cpu-simd');
  assert.match(full.out[0]!, /: 26 faces/);
  const weights = await cli('-i', group, '--weights');
  assert.is(weights.code, 2);
  assert.match(weights.err[0]!, /--weights needs a value/);
});

test('retinaface --help lists the detect options, grouped', async () => {
  const r = await cli('--help');
  assert.is(r.code, 0);
  const text = r.out.join('\n');
  const lines = text.split('\n');
  const groups: [string, string[]][] = [
    [' input and output:', ['-i, --input', '-s, --savepath', '-w, --write_json', '--json_format']],
    [' model:', ['-a, --arch', '--weights FILE']],
    [' thresholds:', ['--vis_thres', '--confidence_threshold', '--clip']],
    [' performance:', ['--backend', '-r, --rescale', '-b, --benchmark']],
  ];
  let at = 0;
  for (const [heading, options] of groups) {
    const start = lines.indexOf(heading, at);
    assert.ok(start > at, `--help has the heading '${heading.trim()}' after the previous one`);
    const next = lines.findIndex((l, i) => i > start && /^ ?\S.*:$/.test(l));
    const block = lines.slice(start, next === -1 ? undefined : next).join('\n');
    for (const o of options) assert.ok(block.includes(o), `${o} is under '${heading.trim()}'`);
    at = start;
  }
  assert.ok(text.includes('default auto'), 'the default backend is named');
});

test('weights/manifest.json is what the resolver reads; convert writes into weights/ by default', async () => {
  const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'weights', 'manifest.json'), 'utf8')) as { checkpoints: Record<string, unknown> };
  assert.equal(OFFICIAL_CHECKPOINTS, manifest.checkpoints);
  // the local official checkpoint's bytes are the manifest's
  const pth = readFileSync(officialCheckpoint());
  assert.is(pth.length, OFFICIAL_CHECKPOINTS['mobile0.25'].bytes);
  assert.is(createHash('sha256').update(pth).digest('hex'), OFFICIAL_CHECKPOINTS['mobile0.25'].sha256);
  const broken = path.join(dir, 'manifest.json');
  writeFileSync(broken, JSON.stringify({ checkpoints: { 'mobile0.25': OFFICIAL_CHECKPOINTS['mobile0.25'] } }));
  assert.throws(() => readManifest(new URL(`file://${broken}`)), (e: unknown) => e instanceof RetinaFaceError && e.code === 'EMANIFEST' && /no valid entry for resnet50/.test(e.message));

  const app = path.join(dir, 'convert-app');
  mkdirSync(app);
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'src', 'cli.js'), 'convert', officialCheckpoint()], { cwd: app, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const out = path.join(app, 'weights', 'retinaface-mobile0.25.safetensors');
  assert.ok(existsSync(out), r.stdout);
  assert.match(r.stdout, /^weights\/retinaface-mobile0\.25\.safetensors: mobile0\.25, 253 tensors/);
  const ignored = spawnSync('git', ['check-ignore', '-q', 'weights/retinaface-mobile0.25.safetensors'], { cwd: repoRoot });
  assert.is(ignored.status, 0, 'converted files in weights/ are git-ignored');
  const tracked = spawnSync('git', ['check-ignore', '-q', 'weights/manifest.json'], { cwd: repoRoot });
  assert.is(tracked.status, 1, 'the manifest is not ignored');
});

test('CLI: stdout closed by its reader (| head -1) stops the lines, not the work: no EPIPE stack, exit 0', () => {
  const out = path.join(dir, 'epipe');
  mkdirSync(out);
  const cli = path.join(repoRoot, 'dist', 'src', 'cli.js');
  const script = `"${process.execPath}" "${cli}" -i "${group}" "${sharedImage('sample.jpg')}" -s "${out}" -q -w | head -c 1 >/dev/null; echo "status \${PIPESTATUS[0]}"`;
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: process.env, timeout: EXIT_BOUND_MS });
  assert.is(r.stdout.trim(), 'status 0', r.stderr);
  assert.is(r.stderr, '', 'nothing on stderr');
  assert.ok(existsSync(path.join(out, 'sample.json')), 'the work was done, to the last input');
});

// ---------------------------------------------------------------- what the new-user trial met
test('load(): a wrong arch, thread count or option name is one RetinaFaceError naming it, before any work', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ arch: 'mobilenet0.25' }, /^invalid option arch: "mobilenet0\.25" \(expected 'mobile0\.25' or 'resnet50'\)$/],
    [{ threads: 1.5 }, /^invalid option threads: 1\.5 \(expected an integer 1\.\.256\)$/],
    [{ threads: 0 }, /^invalid option threads: 0 /],
    [{ threads: 1000 }, /^invalid option threads: 1000 /],
    [{ backend: 'simd' }, /^invalid option backend: "simd" \(expected one of auto, cpu, /],
    [{ winogradTile: 3 }, /^invalid option winogradTile: 3 \(expected 2 or 4\)$/],
    [{ strassen: 'no' }, /^invalid option strassen: "no" \(expected true or false\)$/],
    [{ modelPath: 'x' }, /^unknown option modelPath \(expected arch, backend, /],
  ];
  for (const [opts, message] of cases) {
    const e = await RetinaFace.load(opts as never).then(() => null, (x: unknown) => x);
    assert.ok(e instanceof RetinaFaceError && e.code === 'EOPTION', `${JSON.stringify(opts)}: ${String(e)}`);
    assert.match((e as Error).message, message);
  }
});

test('load({ winogradTile: 2 }) reaches the cpu-simd backend', async () => {
  const d = await RetinaFace.load({ backend: 'cpu-simd', threads: 1, winogradTile: 2 });
  try {
    assert.is((d.backend as unknown as { winogradTile?: number }).winogradTile, 2);
  } finally {
    d.dispose();
  }
});

test('load({ strassen: false }) reaches the cpu-simd backend; by default ResNet-50\'s 1x1s from layer2 on, its strided 3x3s and downsamples and the FPN\'s 1x1s run by Strassen, none with strassen: false', async () => {
  const d = await RetinaFace.load({ backend: 'cpu-simd', threads: 1, strassen: false });
  try {
    assert.is((d.backend as unknown as CpuSimdBackend).strassen, false);
  } finally {
    d.dispose();
  }
  for (const strassen of [true, false]) {
    const be = new CpuSimdBackend({ threads: 1, strassen });
    await be.prepare(buildRetinaFace('resnet50'));
    // layer2-4: 13 blocks' conv1 and conv3, 3 strided conv2s and 3 downsamples; the FPN's 3 outputs
    assert.is(be.strassenConvs, strassen ? 13 * 2 + 3 * 2 + 3 : 0, `strassen ${strassen}`);
    be.dispose();
  }
});

test('weights: the downloaded file name is found too; a missing one names the folder searched; a read-only cache falls back', async () => {
  const wdir = path.join(dir, 'weights-dir');
  mkdirSync(wdir);
  // saved under the URL's name, as `wget URL` does
  writeFileSync(path.join(wdir, 'detection_mobilenet0.25_Final.pth'), readFileSync(officialCheckpoint()));
  const fresh = path.join(dir, 'fresh-cache');
  const d = await RetinaFace.load({ weightsDir: wdir, cacheDir: fresh, backend: 'cpu', onProgress: () => {} });
  assert.is(d.weightsFile, path.join(fresh, 'retinaface-mobile0.25.safetensors'));
  d.dispose();
  const empty = path.join(dir, 'empty-weights');
  mkdirSync(empty);
  const e = await RetinaFace.load({ weightsDir: empty, cacheDir: path.join(dir, 'c2'), download: false }).then(() => null, (x: unknown) => x);
  assert.ok(e instanceof RetinaFaceError && e.code === 'ENOWEIGHTS', String(e));
  assert.match((e as Error).message, new RegExp(`the weights folder ${empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} holds neither mobilenet0\\.25_Final\\.pth nor detection_mobilenet0\\.25_Final\\.pth`));
  // a cache that cannot be created (under a regular file): the checkpoint loads as it is
  const blocker = path.join(dir, 'a-file');
  writeFileSync(blocker, 'x');
  const lines: string[] = [];
  const ro = await RetinaFace.load({ weightsDir: wdir, cacheDir: path.join(blocker, 'cache'), backend: 'cpu', onProgress: (l) => lines.push(l) });
  assert.is(ro.weightsFile, path.join(wdir, 'detection_mobilenet0.25_Final.pth'));
  assert.match(lines.join('\n'), /cannot write the cache .*; loading .* directly \(set RETINAFACE_CACHE/);
  assert.is((await ro.detect(group)).length, VISIBLE_ON_GROUP);
  ro.dispose();
  for (const v of ['1', 'true', 'TRUE', 'yes', 'on', ' On ']) assert.ok(offline({ RETINAFACE_OFFLINE: v }), `RETINAFACE_OFFLINE=${v}`);
  for (const v of ['', '0', 'false', 'no']) assert.not.ok(offline({ RETINAFACE_OFFLINE: v }), `RETINAFACE_OFFLINE=${v}`);
});

test('inputs: any typed array view of the bytes; a Blob or a URL refused saying what to pass', async () => {
  const d = await RetinaFace.load({ backend: 'cpu-simd', threads: 2 });
  try {
    const bytes = readFileSync(group);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    assert.is((await d.detect(view as unknown as Uint8Array)).length, VISIBLE_ON_GROUP);
    for (const [input, hint] of [[new Blob([bytes]), /got a Blob or File \(pass new Uint8Array\(await blob\.arrayBuffer\(\)\)\)/], [new URL(`file://${group}`), /got a URL \(pass a file path, or the bytes of fetch\(url\)\)/]] as const) {
      const e = await d.detect(input as never).then(() => null, (x: unknown) => x);
      assert.ok(e instanceof RetinaFaceError, String(e));
      assert.match((e as Error).message, hint);
    }
  } finally {
    d.dispose();
  }
});

test('CLI: a missing file among several fails alone; flags that would do nothing are refused; name clashes caught; compact JSON', async () => {
  const batch = await cli('-i', group, path.join(dir, 'missing.jpg'), group, '-q');
  assert.is(batch.code, 1);
  assert.is(batch.out.length, 2, 'the two readable inputs are processed');
  assert.equal(batch.err, [`retinaface: ${path.join(dir, 'missing.jpg')}: no such file or directory`, 'retinaface: 1 of 3 inputs failed']);
  const usage: [string[], RegExp][] = [
    [['-i', group, group, '-w'], /-w\/--write_json writes beside each drawn image, and 2 inputs are drawn only with --savepath DIR/],
    [['-i', group, '--json_format', 'ailia'], /--json_format chooses the layout of -w\/--write_json: add -w/],
    [['-i', group, '-c', '3'], /-c\/--benchmark_count is the number of -b\/--benchmark runs: add -b/],
    [[group], /unknown command .* \(to find the faces in it: retinaface --input /],
  ];
  for (const [argv, message] of usage) {
    const r = await cli(...argv);
    assert.is(r.code, 2, argv.join(' '));
    assert.match(r.err[0]!, message);
  }
  const clash = path.join(dir, 'clash');
  mkdirSync(clash);
  const png = path.join(clash, 'wider_group.png');
  writeFileSync(png, encodeImage(rgbImage(64, 48, new Uint8Array(64 * 48 * 3)), 'png'));
  writeFileSync(path.join(clash, 'wider_group.jpg'), readFileSync(group));
  const outDir = path.join(dir, 'clash-out');
  mkdirSync(outDir);
  const c = await cli('-i', clash, '-s', outDir, '-w');
  assert.is(c.code, 1);
  assert.match(c.err[0]!, /wider_group\.jpg and .*wider_group\.png would both be saved under this name/);
  assert.match(c.err[0]!, /wider_group\.json/);
  const one = path.join(dir, 'one.png');
  const many = await cli('-i', group, group, '-s', path.join(dir, 'all.png'));
  assert.match(many.err[0]!, /with 2 inputs the savepath must be a directory/);
  const j = await cli('-i', group, '-s', one, '-w', '-q');
  assert.is(j.code, 0);
  const text = readFileSync(one.replace(/\.png$/, '.json'), 'utf8');
  assert.match(text, /\n {6}"box": \[[\d.]+, [\d.]+, [\d.]+, [\d.]+\],\n {6}"landmarks": \[\[[\d.]+, [\d.]+\], \[/, 'a box and its landmarks on one line each');
  assert.is((JSON.parse(text) as { faces: unknown[] }).faces.length, VISIBLE_ON_GROUP);
});

test('the tarball: LICENSE, manifest, package.json exported, no source maps, nothing from docs/, bounded size', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const [pack] = JSON.parse(r.stdout) as [{ files: { path: string }[]; size: number; unpackedSize: number }];
  const files = pack.files.map((f) => f.path);
  for (const f of ['LICENSE', 'README.md', 'weights/manifest.json', 'weights/README.md', 'dist/src/index.js', 'dist/src/cli.js', 'dist/browser/retinaface.js']) {
    assert.ok(files.includes(f), `${f} is in the tarball`);
  }
  assert.equal(files.filter((f) => f.endsWith('.map')), [], 'no source map (they would point at src/*.ts, which is not shipped)');
  // the docs the README links to (architecture, weights format, benchmarks...) but not the demo
  assert.equal(files.filter((f) => (f.startsWith('docs/') && !/^docs\/[\w-]+\.md$/.test(f)) || f.startsWith('test') || f.startsWith('bench')), [], 'no demo, tests or benchmarks');
  assert.ok(files.includes('docs/architecture.md') && files.includes('docs/weights-format.md'), 'the docs the README links to');
  assert.equal(files.filter((f) => f.startsWith('weights/') && !['weights/manifest.json', 'weights/README.md'].includes(f)), [], 'no weights');
  // 2.1 MB unpacked on 2026-12-04 (the browser bundle with gpu.js's own build is most of it).
  assert.ok(pack.unpackedSize < 3_000_000, `unpacked size ${pack.unpackedSize} bytes`);
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as Record<string, any>;
  assert.is(pkg.license, 'MIT');
  assert.is(pkg.exports['./package.json'], './package.json');
  assert.match(readFileSync(path.join(repoRoot, 'LICENSE'), 'utf8'), /^MIT License/);
  // gpu.js (and through it Dawn's 84 MB webgpu package and gl's native build) only on request
  assert.equal(Object.keys(pkg.dependencies).sort(), ['jpeg-js', 'pngjs']);
  assert.equal(pkg.peerDependenciesMeta, { 'gpu.js': { optional: true } });
  assert.ok(pkg.peerDependencies['gpu.js'] !== undefined && pkg.devDependencies['gpu.js'] !== undefined);
});

/** What `npm install` of the packed tarball may put in an empty app's node_modules (issue 14). */
const INSTALL_BOUND_BYTES = 20 * 1024 * 1024;

function duBytes(p: string): number {
  const s = statSync(p);
  if (!s.isDirectory()) return s.size;
  return readdirSync(p).reduce((n, e) => n + duBytes(path.join(p, e)), 0);
}

test('the packed tarball installed into an empty app: lean, no native build, default detect and CLI work, gpujs says what to install', () => {
  const app = mkdtempSync(path.join(os.tmpdir(), 'retinaface app-'));
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], { cwd: repoRoot, encoding: 'utf8' });
  assert.is(pack.status, 0, pack.stderr);
  const tarball = path.join(app, (JSON.parse(pack.stdout) as [{ filename: string }])[0].filename);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  // The npm registry (CI reaches it) serves jpeg-js and pngjs; nothing else may come.
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: app, encoding: 'utf8' });
  assert.is(install.status, 0, `npm install of the tarball failed (it needs the npm registry or npm's cache): ${install.stderr}`);
  const nm = path.join(app, 'node_modules');
  const top = readdirSync(nm).filter((n) => !n.startsWith('.')).sort();
  assert.equal(top, ['jpeg-js', 'pngjs', 'retinaface-ts'], 'the installed packages');
  const bytes = duBytes(nm);
  console.log(`  [install] npm install of the tarball: ${top.join(', ')}; node_modules ${(bytes / 1e6).toFixed(2)} MB`);
  assert.ok(bytes <= INSTALL_BOUND_BYTES, `node_modules is ${bytes} bytes`);
  const native = spawnSync('find', [nm, '-name', '*.node', '-o', '-name', 'binding.gyp'], { encoding: 'utf8' }).stdout.trim();
  assert.is(native, '', 'no native module');

  writeFileSync(path.join(app, 'main.js'), `import { RetinaFace } from 'retinaface-ts';\n` +
    `const d = await RetinaFace.load();\nconst faces = await d.detect(${JSON.stringify(group)});\n` +
    `console.log(\`\${d.backendName} \${faces.length}\`);\n`);
  const run = spawnSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8', timeout: EXIT_BOUND_MS, env: process.env });
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stdout.trim(), `cpu-simd ${VISIBLE_ON_GROUP}`, 'the default detects on cpu-simd and returns the visible faces');

  // The published types compile in a strict app without gpu.js (an optional peer) and without
  // skipLibCheck: the Node entry with Node's types and no DOM lib, the browser entry with the DOM lib.
  writeFileSync(path.join(app, 'node.ts'), "import { RetinaFace, type Face } from 'retinaface-ts';\n" +
    "const d = await RetinaFace.load({ backend: 'auto' });\nconst faces: Face[] = await d.detect('x.jpg', { visThreshold: 0.5, clip: true });\nconsole.log(faces.length, d.backendWhy);\n");
  writeFileSync(path.join(app, 'page.ts'), "import { loadDetector, type DomImageSource } from 'retinaface-ts/browser';\n" +
    "const d = await loadDetector('w.safetensors');\nconst img: DomImageSource = new Image();\nconsole.log((await d.detectDetailed(img)).candidates.length);\n");
  const typesDir = path.join(repoRoot, 'node_modules', '@types');
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const common = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext'];
  for (const [file, extra] of [['node.ts', ['--lib', 'ES2022', '--types', 'node', '--typeRoots', typesDir]], ['page.ts', ['--lib', 'ES2022,DOM']]] as const) {
    const t = spawnSync(process.execPath, [tsc, ...common, ...extra, file], { cwd: app, encoding: 'utf8' });
    assert.is(t.status, 0, `${file}: ${t.stdout}${t.stderr}`);
  }

  const bin = path.join(nm, '.bin', 'retinaface');
  const ok = spawnSync(bin, ['-i', group, '-s', 'faces.png', '-w', '--json_format', 'ailia'], { cwd: app, encoding: 'utf8', env: process.env });
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /: 26 faces \(score >= 0\.6\) -> faces\.png/);
  assert.is((JSON.parse(readFileSync(path.join(app, 'faces.json'), 'utf8')) as unknown[]).length, VISIBLE_ON_GROUP);
  const gpu = spawnSync(bin, ['-i', group, '--backend', 'gpujs-cpu'], { cwd: app, encoding: 'utf8', env: process.env });
  assert.is(gpu.status, 1);
  // (a cold cache adds a 'converted ...' progress line before it)
  assert.equal(gpu.stderr.trim().split('\n').filter((l) => l.startsWith('retinaface:')), ['retinaface: the gpujs backends need the gpu.js package: npm install gpu.js'], gpu.stderr);
  assert.not.match(gpu.stderr, /\n\s+at /, 'no stack trace');
});

test.run();
