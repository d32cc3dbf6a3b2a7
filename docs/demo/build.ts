// Builds the browser bundle and the demo page's assets (run after tsc; `npm run build:browser`
// does the first part, `npm run demo` both and then serves the page):
//
//   dist/browser/            the library for pages: retinaface.js (ESM entry, from dist/src/browser.js),
//                            lazily loaded chunks (cpu-simd, gpu.js backend), simd_worker.js (cpu-simd's
//                            module worker), gpu-browser.min.js (gpu.js's own browser build, loaded by
//                            the gpu.js chunk only when a gpu.js backend is created) and retinaface.d.ts
//   docs/demo/lib/           a copy of dist/browser/ plus demo.js (docs/demo/demo.ts)
//   docs/demo/weights/       converted weights (mobile0.25, and resnet50 when its checkpoint is found)
//   docs/demo/samples/       sample photos (from --images, default ../shared/images)
//   docs/demo/assets.json    what the page may offer: weights with size and sha256, samples
//   docs/explore/lib/        the architecture explorer's script (docs/explore/explore.ts) with the
//   docs/kernels/lib/        library code it uses, and the kernel benchmark page's (docs/kernels/):
//                            each page bundles its own copy, chunks, simd_worker.js and gpu.js's
//                            browser build, so that rebuilding one never touches another's files.
//                            The explorer reads the demo's weights and samples (../demo/).
//
// docs/demo/{lib,weights,samples,assets.json} and docs/{explore,kernels}/lib are generated and git-ignored: the weights are
// converted from a checkpoint that is not ours to ship, the photos are not ours either. After
// this step docs/demo/ works from any static file server (threads need COOP/COEP headers).
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { RetinaFaceError } from '../../src/errors.js';
import { ARCHS, type Arch } from '../../src/model/config.js';
import { OFFICIAL_CHECKPOINTS, resolveWeights } from '../../src/weights/resolve.js';
import { buildSimdModule, SIMD_MEMORY, SIMD_WASM_FILES } from '../../src/ops/simd/module.js';
import { markdownPage } from '../explore/markdown.js';

/** The repository root (this file runs compiled from dist/docs/demo/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const bundleDir = path.join(repoRoot, 'dist', 'browser');
export const demoDir = path.join(repoRoot, 'docs', 'demo');

/**
 * 'gpu.js' resolves to gpujs-shim.js (beside this file): it loads gpu.js's browser build next to
 * the chunk, once, and re-exports what src/backends imports from it.
 */
const gpujsShim: esbuild.Plugin = {
  name: 'gpujs-browser-build',
  setup(build) {
    build.onResolve({ filter: /^gpu\.js$/ }, () => ({ path: path.join(demoDir, 'gpujs-shim.js') }));
  },
};

export interface BundleFile {
  file: string;
  bytes: number;
  gzip: number;
}

/** What a page downloads, gzip: the entry with what it imports statically, and per kind of backend the lazily loaded rest. */
export interface BundleReport {
  files: BundleFile[];
  /** retinaface.js and its static imports: decoding, weights, the network, post-processing, the 'cpu' backend's loader */
  entry: string[];
  /** chunks loaded on first use of each kind of backend (beyond entry) */
  lazy: Record<'cpu' | 'cpu-simd' | 'gpujs', string[]>;
}

/** How the library is bundled for pages: ESM chunks beside their entries, gpu.js through the shim. */
const LIBRARY_BUILD = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser', // honours package.json "browser": png_codec and simd_host.node get their browser twins
  target: 'es2022',
  // No syntax minification: gpu.js compiles kernels from their JavaScript source
  // (Function.prototype.toString), and its webasm and webgpu translators refuse the comma
  // sequences that esbuild's syntax pass writes. Whitespace and local names are safe.
  minifyWhitespace: true,
  minifyIdentifiers: true,
  sourcemap: 'linked',
  entryNames: '[name]',
  // Chunks beside the entries: simd_host.browser and the gpu.js shim resolve their neighbours
  // (simd_worker.js, gpu-browser.min.js) relative to their own chunk's URL.
  chunkNames: '[name]-[hash]',
  plugins: [gpujsShim],
  logLevel: 'warning',
} satisfies esbuild.BuildOptions;

/** The bundle into dist/browser/; returns its files, sizes and what each kind of page loads. */
export async function buildBundle(): Promise<BundleReport> {
  rmSync(bundleDir, { recursive: true, force: true });
  const result = await esbuild.build({
    ...LIBRARY_BUILD,
    absWorkingDir: repoRoot,
    entryPoints: { retinaface: 'dist/src/browser.js', simd_worker: 'dist/src/backends/simd_worker.js', detector_worker: 'dist/src/worker/detector_worker.js' },
    outdir: bundleDir,
    metafile: true,
  });
  copyFileSync(path.join(repoRoot, 'node_modules', 'gpu.js', 'dist', 'gpu-browser.min.js'), path.join(bundleDir, 'gpu-browser.min.js'));
  writeFileSync(path.join(bundleDir, 'retinaface.d.ts'), "// Types of the browser bundle: those of the library's browser entry.\nexport * from '../src/browser.js';\n");
  writeSimdWasm(bundleDir);
  writeSimdWasm(wasmDir);

  // Static-import closure of an output file, from esbuild's metafile.
  const outputs = result.metafile.outputs;
  const key = (f: string) => path.relative(repoRoot, path.join(bundleDir, f)).split(path.sep).join('/');
  const closure = (roots: string[]): Set<string> => {
    const seen = new Set<string>();
    const stack = roots.map(key);
    while (stack.length > 0) {
      const k = stack.pop()!;
      if (seen.has(k) || outputs[k] === undefined) continue;
      seen.add(k);
      for (const i of outputs[k].imports) if (i.kind === 'import-statement') stack.push(i.path);
    }
    return seen;
  };
  const names = (set: Set<string>) => [...set].map((k) => path.basename(k)).sort();
  const chunk = (prefix: string) => Object.keys(outputs).map((k) => path.basename(k)).filter((f) => f.startsWith(`${prefix}-`) && f.endsWith('.js'));
  const entry = closure(['retinaface.js']);
  const beyond = (roots: string[]) => names(new Set([...closure(roots)].filter((k) => !entry.has(k))));
  return {
    files: listFiles(bundleDir),
    entry: names(entry),
    lazy: {
      cpu: beyond(chunk('cpu')),
      'cpu-simd': beyond([...chunk('cpu_simd'), ...chunk('simd_host.browser'), 'simd_worker.js']),
      gpujs: [...beyond([...chunk('gpujs'), ...chunk('gpu_instance')]), 'gpu-browser.min.js'],
    },
  };
}

/** The pages beside the demo that bundle library internals (not only the public entry): the architecture explorer and the kernel benchmark. */
export const PAGES = ['explore', 'kernels'] as const;
export type PageName = (typeof PAGES)[number];

/**
 * One page's script (dist/docs/NAME/NAME.js, compiled by tsc) with the library code it imports
 * into docs/NAME/lib/: chunks, cpu-simd's worker and gpu.js's browser build beside them, as in
 * dist/browser/. Each page has its own copy, so a rebuild of one never touches another's files.
 */
export async function buildPage(name: PageName): Promise<void> {
  const out = path.join(repoRoot, 'docs', name, 'lib');
  // Built beside, then swapped in only when something changed: a test (or a browser) loading the
  // page's chunks while another build runs never sees its files vanish.
  const next = `${out}.next-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  await esbuild.build({
    ...LIBRARY_BUILD,
    absWorkingDir: repoRoot,
    entryPoints: { [name]: `dist/docs/${name}/${name}.js`, simd_worker: 'dist/src/backends/simd_worker.js' },
    outdir: next,
  });
  copyFileSync(path.join(repoRoot, 'node_modules', 'gpu.js', 'dist', 'gpu-browser.min.js'), path.join(next, 'gpu-browser.min.js'));
  if (name === 'explore') {
    // The explorer links its descriptions to docs/architecture.md's sections: the doc as a page beside it, with its diagrams.
    const docs = path.join(repoRoot, 'docs');
    writeFileSync(path.join(next, 'architecture.html'), markdownPage(readFileSync(path.join(docs, 'architecture.md'), 'utf8'), 'retinaface-ts: the network, as a reader studies it'));
    mkdirSync(path.join(next, 'diagrams'));
    for (const f of readdirSync(path.join(docs, 'diagrams'))) copyFileSync(path.join(docs, 'diagrams', f), path.join(next, 'diagrams', f));
  }
  if (sameTree(next, out)) {
    rmSync(next, { recursive: true, force: true });
    return;
  }
  const old = `${out}.old-${process.pid}`;
  if (existsSync(out)) renameSync(out, old);
  renameSync(next, out);
  rmSync(old, { recursive: true, force: true });
}

/** Whether two folders hold the same files with the same bytes. */
function sameTree(a: string, b: string): boolean {
  if (!existsSync(b)) return false;
  const list = (d: string): string[] => readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .map((e) => path.relative(d, path.join((e as { parentPath?: string }).parentPath ?? e.path, e.name))).sort();
  const fa = list(a), fb = list(b);
  return fa.length === fb.length && fa.every((f, i) => f === fb[i] && readFileSync(path.join(a, f)).equals(readFileSync(path.join(b, f))));
}

/** Where the Node package keeps cpu-simd's precompiled module (package.json "files"). */
export const wasmDir = path.join(repoRoot, 'dist', 'wasm');

/**
 * cpu-simd's kernel module, both builds (one thread, shared memory), as .wasm files: what runtimes
 * that forbid compiling WebAssembly from bytes import instead (SIMD_WASM_FILES in
 * src/ops/simd_files.ts). The bytes are the generator's, so the backend runs the same code
 * either way.
 */
export function writeSimdWasm(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, SIMD_WASM_FILES.plain), buildSimdModule(SIMD_MEMORY.plain));
  writeFileSync(path.join(dir, SIMD_WASM_FILES.shared), buildSimdModule(SIMD_MEMORY.shared));
}

function listFiles(dir: string): BundleFile[] {
  return readdirSync(dir).filter((f) => f.endsWith('.js')).sort().map((f) => {
    const bytes = readFileSync(path.join(dir, f));
    return { file: f, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
}

/** The demo's script into docs/demo/lib/demo.js, importing the bundle beside it. */
async function buildDemoScript(): Promise<void> {
  await esbuild.build({
    absWorkingDir: repoRoot,
    entryPoints: ['docs/demo/demo.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: path.join(demoDir, 'lib', 'demo.js'),
    sourcemap: 'linked',
    // demo.ts is type-checked against src/browser.ts; at run time it uses the bundle.
    plugins: [{
      name: 'library-is-the-bundle',
      setup(build) {
        build.onResolve({ filter: /src\/browser\.js$/ }, () => ({ path: './retinaface.js', external: true }));
      },
    }],
    logLevel: 'warning',
  });
}

export interface DemoWeights {
  arch: Arch;
  url: string;
  bytes: number;
  gzip: number;
  sha256: string;
}

export interface DemoAssets {
  weights: DemoWeights[];
  /** why an arch has no weights here */
  missing: Partial<Record<Arch, string>>;
  samples: string[];
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Copies unless `to` already holds the same bytes: a page being served (or a test reading it
 * while another test builds) never sees a file of the generated assets rewritten under it.
 */
function copyIfChanged(from: string, to: string): void {
  if (existsSync(to) && statSync(to).size === statSync(from).size && readFileSync(to).equals(readFileSync(from))) return;
  copyFileSync(from, to);
}

/** Converted weights into docs/demo/weights/ for every arch whose checkpoint resolves (downloading mobile0.25's when allowed). */
async function demoWeights(download: boolean, log: (line: string) => void): Promise<Pick<DemoAssets, 'weights' | 'missing'>> {
  const dir = path.join(demoDir, 'weights');
  mkdirSync(dir, { recursive: true });
  const weights: DemoWeights[] = [];
  const missing: Partial<Record<Arch, string>> = {};
  for (const arch of ARCHS) {
    try {
      // ResNet-50 only when its checkpoint or conversion is already here: its download is ~105 MB.
      const w = await resolveWeights(arch, { download: download && arch === 'mobile0.25', onProgress: log });
      const name = `retinaface-${arch}.safetensors`;
      copyIfChanged(w.file, path.join(dir, name));
      const bytes = readFileSync(path.join(dir, name));
      weights.push({ arch, url: `weights/${name}`, bytes: bytes.length, gzip: gzipSync(bytes).length, sha256: sha256(bytes) });
    } catch (e) {
      if (!(e instanceof RetinaFaceError)) throw e;
      missing[arch] = `no converted weights: convert ${OFFICIAL_CHECKPOINTS[arch].file} with \`npx retinaface convert ${OFFICIAL_CHECKPOINTS[arch].file} retinaface-${arch}.safetensors\` and load the file here`;
      log(`${arch}: ${e.message}`);
    }
  }
  return { weights, missing };
}

function demoSamples(imagesDir: string): string[] {
  const dir = path.join(demoDir, 'samples');
  mkdirSync(dir, { recursive: true });
  const names = !existsSync(imagesDir) ? []
    : readdirSync(imagesDir).filter((f) => /\.(jpe?g|png)$/i.test(f) && statSync(path.join(imagesDir, f)).isFile()).sort();
  for (const f of readdirSync(dir)) if (!names.includes(f)) rmSync(path.join(dir, f), { recursive: true, force: true });
  for (const f of names) copyIfChanged(path.join(imagesDir, f), path.join(dir, f));
  return names.map((f) => `samples/${f}`);
}

export interface DemoBuildOptions {
  imagesDir?: string;
  download?: boolean;
  log?: (line: string) => void;
}

/** The demo's weights, samples and assets.json (the explorer reads them too); a file already up to date is not rewritten. */
export async function buildDemoAssets(opts: DemoBuildOptions = {}): Promise<DemoAssets> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const assets: DemoAssets = {
    ...(await demoWeights(opts.download ?? true, log)),
    samples: demoSamples(opts.imagesDir ?? path.join(repoRoot, '..', 'shared', 'images')),
  };
  const manifest = JSON.stringify(assets, null, 2) + '\n';
  const at = path.join(demoDir, 'assets.json');
  if (!existsSync(at) || readFileSync(at, 'utf8') !== manifest) writeFileSync(at, manifest);
  return assets;
}

/** Everything under docs/demo/ that the page loads, and the pages beside it (PAGES); returns the manifest it wrote. */
export async function buildDemo(opts: DemoBuildOptions = {}): Promise<{ bundle: BundleReport; assets: DemoAssets }> {
  const bundle = await buildBundle();
  const lib = path.join(demoDir, 'lib');
  rmSync(lib, { recursive: true, force: true });
  mkdirSync(lib, { recursive: true });
  for (const f of readdirSync(bundleDir)) copyFileSync(path.join(bundleDir, f), path.join(lib, f));
  await buildDemoScript();
  const assets = await buildDemoAssets(opts);
  for (const page of PAGES) await buildPage(page);
  return { bundle, assets };
}

/** What a page that imports the bundle downloads for each kind of backend, gzip (level 9). */
export function bundleSummary(r: BundleReport): string {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  const gz = (files: string[]) => files.reduce((s, f) => s + (r.files.find((x) => x.file === f)?.gzip ?? 0), 0);
  const lines = r.files.map((f) => `  ${f.file.padEnd(32)} ${kb(f.bytes).padStart(10)}  gzip ${kb(f.gzip).padStart(9)}`);
  lines.push(`  a page downloads, gzip: the entry ${kb(gz(r.entry))} (${r.entry.length} files), then on first use` +
    ` cpu +${kb(gz(r.lazy.cpu))}, cpu-simd +${kb(gz(r.lazy['cpu-simd']))}, gpu.js backends +${kb(gz(r.lazy.gpujs))} (gpu-browser.min.js included)`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const onlyBundle = args.includes('--bundle-only');
  try {
    if (onlyBundle) {
      console.log(`dist/browser/\n${bundleSummary(await buildBundle())}`);
    } else {
      const imagesAt = args.indexOf('--images');
      const { bundle, assets } = await buildDemo(imagesAt >= 0 && args[imagesAt + 1] !== undefined ? { imagesDir: args[imagesAt + 1]! } : {});
      console.log(`dist/browser/\n${bundleSummary(bundle)}`);
      console.log(`docs/demo/: ${assets.weights.map((w) => `${w.arch} weights ${(w.bytes / 1e6).toFixed(2)} MB (gzip ${(w.gzip / 1e6).toFixed(2)} MB)`).join(', ')}; ${assets.samples.length} samples`);
    }
  } catch (e) {
    if (e instanceof RetinaFaceError) {
      console.error(`demo build: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
}
