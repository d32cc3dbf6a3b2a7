// The browser build. (1) The browser entry (src/browser.ts) and cpu-simd's worker entry pull no
// Node built-in anywhere in their import graphs, walked as a bundler walks them: relative imports
// followed, package.json "browser" applied (png_codec.js and simd_host.node.js swapped for their
// browser twins), bare imports allowed only for the pure-JavaScript packages. (2) The bundle
// (docs/demo/build.ts, dist/browser/) has no Node built-in left and its chunks load lazily.
// (3) A bundler tree-shakes the library: a page that imports only fetchWeights gets neither the
// detector nor the image decoder.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundle, bundleDir, type BundleReport } from '../docs/demo/build.js';
import { repoRoot } from './helpers/paths.js';

/** gpu.js resolves to its browser build (its "browser" field); jpeg-js is plain JavaScript. */
const ALLOWED_BARE = new Set(['gpu.js', 'jpeg-js']);
const browserField = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { browser: Record<string, string> }).browser;

function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of src.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The import graph from `entry`, with package.json "browser" applied unless `raw`: files seen and bad imports. */
function walk(entry: string, raw = false): { seen: Set<string>; bad: string[] } {
  const seen = new Set<string>();
  const bad: string[] = [];
  const stack = [entry];
  while (stack.length > 0) {
    let file = stack.pop()!;
    const swapped = raw ? undefined : browserField[`./${path.relative(repoRoot, file).split(path.sep).join('/')}`];
    if (swapped !== undefined) file = path.join(repoRoot, swapped);
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) stack.push(path.resolve(path.dirname(file), spec));
      else if (!ALLOWED_BARE.has(spec)) bad.push(`${path.relative(repoRoot, file)} imports '${spec}'`);
    }
  }
  return { seen, bad };
}

test('browser entry and cpu-simd worker: no Node built-in and no bare import but gpu.js and jpeg-js in their import graphs', () => {
  for (const entry of ['dist/src/browser.js', 'dist/src/backends/simd_worker.js']) {
    const { seen, bad } = walk(path.join(repoRoot, entry));
    assert.ok(seen.size > (entry.endsWith('browser.js') ? 40 : 3), `${entry}: walked ${seen.size} modules`);
    assert.equal(bad, [], bad.join('\n'));
  }
  // the "browser" field is what keeps them out: without it, pngjs and worker_threads come in
  const raw = walk(path.join(repoRoot, 'dist/src/browser.js'), true).bad;
  assert.ok(raw.some((b) => b.includes("'pngjs'")) && raw.some((b) => b.includes("'node:worker_threads'")), raw.join('\n'));
});

let report: BundleReport;

test('bundle: ESM chunks with no Node built-in, the worker and gpu.js beside them, types shipped', async () => {
  report = await buildBundle();
  const names = report.files.map((f) => f.file);
  for (const f of ['retinaface.js', 'simd_worker.js', 'gpu-browser.min.js']) assert.ok(names.includes(f), `${f} in ${names.join(', ')}`);
  for (const f of names.filter((n) => n !== 'gpu-browser.min.js')) {
    const src = readFileSync(path.join(bundleDir, f), 'utf8');
    assert.not.match(src, /\bfrom\s*["'](node:|fs|path|os|zlib|worker_threads|crypto)/, `${f} imports a Node built-in`);
    assert.not.match(src, /\bimport\(\s*["']node:/, `${f} imports a Node built-in`);
    assert.not.match(src, /\brequire\(\s*["']/, `${f} calls require()`);
  }
  assert.match(readFileSync(path.join(bundleDir, 'retinaface.d.ts'), 'utf8'), /export \* from '\.\.\/src\/browser\.js'/);
  // cpu-simd and gpu.js are not part of what the entry loads statically
  assert.ok(!report.entry.some((f) => f.startsWith('cpu_simd-') || f.startsWith('gpujs-') || f === 'gpu-browser.min.js'), report.entry.join(', '));
  assert.ok(report.lazy['cpu-simd'].some((f) => f.startsWith('cpu_simd-')) && report.lazy.gpujs.some((f) => f.startsWith('gpujs-')));
  const kb = (files: string[]) => (files.reduce((s, f) => s + report.files.find((x) => x.file === f)!.gzip, 0) / 1024).toFixed(1);
  console.log(`  [bundle] gzip: entry ${kb(report.entry)} KB, + cpu-simd ${kb(report.lazy['cpu-simd'])} KB, + gpu.js backends ${kb(report.lazy.gpujs)} KB`);
});

async function consumerSize(entry: string, name: string): Promise<string> {
  const r = await esbuild.build({
    stdin: { contents: `import { ${name} } from ${JSON.stringify(entry)};\nconsole.log(${name});`, resolveDir: repoRoot, loader: 'js' },
    bundle: true, format: 'esm', platform: 'browser', minify: true, write: false, external: ['gpu.js'], logLevel: 'error',
  });
  return r.outputFiles[0]!.text;
}

test('tree-shaking: a page importing only fetchWeights gets neither the detector nor the JPEG decoder', async () => {
  const entry = path.join(repoRoot, 'dist/src/browser.js');
  const onlyWeights = await consumerSize(entry, 'fetchWeights');
  const detector = await consumerSize(entry, 'RetinaFaceDetector');
  for (const [what, marker] of [['the detector', 'invalid option rescale'], ['jpeg-js', 'SOI not found']]) {
    assert.ok(detector.includes(marker!), `the detector's bundle has ${what}`);
    assert.not.ok(onlyWeights.includes(marker!), `fetchWeights alone pulls ${what}`);
  }
  assert.ok(onlyWeights.length < detector.length / 2, `${onlyWeights.length} vs ${detector.length} bytes`);
  // the prebuilt bundle is an ES module too: unused exports drop out of a page's own bundle
  const fromBundle = await consumerSize(path.join(bundleDir, 'retinaface.js'), 'fetchWeights');
  assert.not.ok(fromBundle.includes('invalid option rescale'), 'the detector is dropped from the prebuilt bundle');
});

test.run();
