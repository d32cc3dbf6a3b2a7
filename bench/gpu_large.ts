// One mobile0.25 forward pass at a large size on one gpu.js mode: proof that the splitting and
// row-slab layouts hold (the gpu.js issue's 4096x2300), with its first-pass time and a count of
// non-finite outputs. Node modes run here; webgl, webgl2 and webgpu in headless Chromium through
// the test harness page (test/browser/page.ts, harness.time).
//   npm run build && xvfb-run -a node dist/bench/gpu_large.js MODE [HEIGHTxWIDTH]   (default 2300x4096)
import { GpuJsBackend } from '../src/backends/gpujs.js';
import { GPUJS_MODES, type GpuJsMode } from '../src/backends/gpu_instance.js';
import { runNetwork } from '../src/model/run.js';
import { openHarnessPage } from '../src/harness/chromium.js';
import { checkpointModel, convertedCheckpointUrl } from '../src/harness/checkpoint_model.js';
import { BROWSER_MODES } from '../src/harness/modes.js';
import { officialCheckpoint, repoRoot } from '../src/harness/paths.js';
import { randomTensor } from '../src/harness/random.js';

interface Timing { firstMs: number; rows: number; nonFinite: number }

async function inNode(mode: GpuJsMode, h: number, w: number): Promise<Timing> {
  const model = await checkpointModel(officialCheckpoint(), 'mobile0.25');
  const be = await GpuJsBackend.create(mode);
  try {
    await be.prepare(model);
    const x = randomTensor([3, h, w], 11, -123, 151);
    const t0 = performance.now();
    const out = await runNetwork(be, model, x);
    const firstMs = performance.now() - t0;
    let nonFinite = 0;
    for (const t of [out.loc, out.conf, out.landms]) for (const v of t.data) if (!Number.isFinite(v)) nonFinite++;
    return { firstMs, rows: out.loc.shape[0]!, nonFinite };
  } finally {
    be.dispose();
  }
}

async function inChromium(mode: GpuJsMode, h: number, w: number): Promise<Timing> {
  const page = await openHarnessPage(repoRoot, 'test/browser/index.html', 'harness');
  try {
    const weights = await convertedCheckpointUrl(officialCheckpoint(), 'mobile0.25');
    return await page.page.evaluate(([m, wu, hh, ww]) =>
      (globalThis as unknown as { harness: { time(...a: unknown[]): Promise<Timing> } }).harness.time(m, 'mobile0.25', wu, hh, ww, 0),
    [mode, weights, h, w] as [string, string, number, number]);
  } finally {
    await page.close();
  }
}

async function main(): Promise<void> {
  const [mode, size = '2300x4096'] = process.argv.slice(2);
  if (mode === undefined || !(GPUJS_MODES as readonly string[]).includes(mode)) throw new Error(`usage: gpu_large.js MODE [HEIGHTxWIDTH], MODE one of ${GPUJS_MODES.join(', ')}`);
  const m = /^(\d+)x(\d+)$/.exec(size);
  if (m === null) throw new Error(`${size} is not HEIGHTxWIDTH`);
  const [h, w] = [Number(m[1]), Number(m[2])];
  const r = (BROWSER_MODES as readonly string[]).includes(mode) ? await inChromium(mode as GpuJsMode, h, w) : await inNode(mode as GpuJsMode, h, w);
  console.log(`gpujs ${mode} mobile0.25 ${h}x${w}: first pass ${(r.firstMs / 1000).toFixed(1)} s, ${r.rows} anchors, ${r.nonFinite} non-finite outputs`);
  if (r.nonFinite > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(`gpu_large: ${(e as Error).message.split('\n')[0]}`);
  process.exit(1);
});
