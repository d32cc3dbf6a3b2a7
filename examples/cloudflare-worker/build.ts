// `npm run build:worker` (at the repository root): bundles src/worker.ts with the library's
// browser entry into dist/worker.js, and puts beside it the modules it imports, named for
// wrangler's default module rules: retinaface-simd.wasm (CompiledWasm: cpu-simd's precompiled
// kernels, from dist/wasm/) and retinaface-mobile0.25.bin (Data: the converted weights, resolved
// as the library resolves them: cache, RETINAFACE_WEIGHTS_DIR, or the official download).
// `wrangler deploy` and Miniflare then take the folder as it is.
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { resolveWeights } from '../../src/weights/resolve.js';
import { SIMD_WASM_FILES } from '../../src/ops/simd_files.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const workerDir = path.join(repoRoot, 'examples', 'cloudflare-worker');
export const workerDist = path.join(workerDir, 'dist');

export interface WorkerBuild {
  /** dist/worker.js and the modules beside it: bytes and gzip (level 9) bytes */
  files: { file: string; bytes: number; gzip: number }[];
  gzipTotal: number;
}

/** gpu.js is not bundled: its backends need a GPU context or eval, neither of which a Worker has. */
const noGpuJs: esbuild.Plugin = {
  name: 'no-gpu.js',
  setup(build) {
    build.onResolve({ filter: /^gpu\.js$/ }, () => ({ path: 'gpu.js', namespace: 'no-gpu.js' }));
    build.onLoad({ filter: /.*/, namespace: 'no-gpu.js' }, () => ({
      contents: "throw new Error('the gpujs backends are not in this Worker build: use cpu-simd or cpu');\n" +
        'export const GPU = {}, Input = {}, HeadlessGLKernel = {}, WebGLKernel = {}, WebGL2Kernel = {};\n',
    }));
  },
};

export async function buildWorker(log: (line: string) => void = () => {}): Promise<WorkerBuild> {
  rmSync(workerDist, { recursive: true, force: true });
  mkdirSync(workerDist, { recursive: true });
  await esbuild.build({
    absWorkingDir: repoRoot,
    entryPoints: [path.join(workerDir, 'src', 'worker.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser', // package.json "browser": the PNG reader and the browser thread host
    conditions: ['worker', 'browser'],
    target: 'es2022',
    outfile: path.join(workerDist, 'worker.js'),
    alias: { 'retinaface-ts/browser': './dist/src/browser.js' },
    external: ['*.wasm', '*.bin'],
    plugins: [noGpuJs],
    minifyWhitespace: true,
    minifyIdentifiers: true,
    logLevel: 'warning',
  });
  copyFileSync(path.join(repoRoot, 'dist', 'wasm', SIMD_WASM_FILES.plain), path.join(workerDist, SIMD_WASM_FILES.plain));
  const w = await resolveWeights('mobile0.25', { onProgress: log });
  copyFileSync(w.file, path.join(workerDist, 'retinaface-mobile0.25.bin'));
  const files = ['worker.js', SIMD_WASM_FILES.plain, 'retinaface-mobile0.25.bin'].map((file) => {
    const bytes = readFileSync(path.join(workerDist, file));
    return { file, bytes: statSync(path.join(workerDist, file)).size, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  return { files, gzipTotal: files.reduce((s, f) => s + f.gzip, 0) };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await buildWorker((l) => process.stderr.write(`${l}\n`));
  for (const f of r.files) console.log(`  ${f.file.padEnd(30)} ${(f.bytes / 1024).toFixed(1).padStart(8)} KB  gzip ${(f.gzip / 1024).toFixed(1).padStart(8)} KB`);
  console.log(`  ${path.relative(repoRoot, workerDist)}/: ${(r.gzipTotal / 1024).toFixed(1)} KB gzip in all (Workers allow 3 MB free, 10 MB paid)`);
}
