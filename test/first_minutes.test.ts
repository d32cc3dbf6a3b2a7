// What a new user meets first (issue 14): a process that exits when its work is done, with or
// without dispose(); a disposed detector that says so; concurrent detect() calls that give the
// faces of sequential ones; ailia's short flags and JSON; a --help that lists detect's options;
// a tarball with a licence and no dangling source maps.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.js';
import { RetinaFace, RetinaFaceError } from '../src/index.js';
import type { BackendSpec } from '../src/backend.js';
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

const CPU_BACKENDS: BackendSpec[] = ['cpu-naive', 'cpu', 'cpu-simd'];

for (const backend of CPU_BACKENDS) {
  test(`${backend}: concurrent detect() calls equal sequential ones; after dispose() every call rejects with EDISPOSED`, async () => {
    const d = await RetinaFace.load({ backend });
    // A small crop keeps cpu-naive quick; the group photo's faces are about 30-60 px.
    const bytes = readFileSync(group);
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

test('retinaface --help lists the detect options', async () => {
  const r = await cli('--help');
  assert.is(r.code, 0);
  const text = r.out.join('\n');
  for (const o of ['-i, --input', '-s, --savepath', '-w, --write_json', '-r, --rescale', '--weights FILE', '--backend', '--vis_thres', '-b, --benchmark', '--json_format']) {
    assert.ok(text.includes(o), `--help mentions ${o}`);
  }
});

test('the tarball: LICENSE, package.json exported, no source maps, nothing from docs/, bounded size', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const [pack] = JSON.parse(r.stdout) as [{ files: { path: string }[]; size: number; unpackedSize: number }];
  const files = pack.files.map((f) => f.path);
  assert.ok(files.includes('LICENSE'), 'LICENSE is in the tarball');
  assert.equal(files.filter((f) => f.endsWith('.map')), [], 'no source map (they would point at src/*.ts, which is not shipped)');
  assert.equal(files.filter((f) => f.startsWith('docs/') || f.startsWith('test') || f.startsWith('bench')), [], 'no docs, tests or benchmarks');
  // 1.3 MB unpacked today (the browser bundle with gpu.js's own build is most of it).
  assert.ok(pack.unpackedSize < 3_000_000, `unpacked size ${pack.unpackedSize} bytes`);
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { license: string; exports: Record<string, unknown> };
  assert.is(pkg.license, 'MIT');
  assert.is(pkg.exports['./package.json'], './package.json');
  assert.match(readFileSync(path.join(repoRoot, 'LICENSE'), 'utf8'), /^MIT License/);
});

test.run();
