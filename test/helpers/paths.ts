// Where tests find the repo, ../shared and the git-ignored cache (src/harness/paths.ts, shared with
// the benchmarks), the test photos, and the Python that has PyTorch.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

import { sharedDir } from '../../src/harness/paths.js';

export { cacheDir, officialCheckpoint, repoRoot, sharedDir } from '../../src/harness/paths.js';

export function sharedImage(name: string): string {
  const file = path.join(sharedDir, 'images', name);
  if (!existsSync(file)) throw new Error(`test image not found: ${file} (../shared/images is required)`);
  return file;
}

let python: string | undefined;
/**
 * The Python that has PyTorch: Debian's /usr/bin/python3 with python3-torch (the pyenv python3
 * first on PATH does not see it). $RETINAFACE_TORCH_PYTHON overrides. Throws, loudly, when torch
 * is missing: tests that compare against PyTorch must fail, never skip.
 */
export function torchPython(): string {
  if (python !== undefined) return python;
  const candidate = process.env.RETINAFACE_TORCH_PYTHON ?? '/usr/bin/python3';
  // find_spec answers in 0.1 s where importing torch takes seconds; a broken install still fails
  // loudly when the reference script imports it.
  const r = spawnSync(candidate, ['-c', "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') else 'No module named torch')"], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`PyTorch is required for this test but ${candidate} cannot import torch ` +
      `(apt-get install -y python3-torch, or set RETINAFACE_TORCH_PYTHON): ${(r.stderr || String(r.error)).trim().split('\n').pop()}`);
  }
  python = candidate;
  return python;
}

/**
 * Runs a reference script with Debian's Python (the one torchPython() finds) after checking that
 * it imports `modules`; throws, loudly, naming the apt packages when one is missing.
 */
export function runReferencePython(script: string, args: string[], modules: Record<string, string>): void {
  const py = process.env.RETINAFACE_TORCH_PYTHON ?? '/usr/bin/python3';
  for (const [module, apt] of Object.entries(modules)) {
    const r = spawnSync(py, ['-c', `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(${JSON.stringify(module)}) else 1)`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`this test needs Python's ${module} at ${py} (apt-get install -y ${apt}); it is missing`);
  }
  const r = spawnSync(py, [script, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${path.basename(script)} ${args.join(' ')} failed with exit code ${r.status}`);
}

/** Runs a Python script with PyTorch; its stderr streams through; throws with the exit code on failure. */
export function runTorchPython(script: string, args: string[]): void {
  const r = spawnSync(torchPython(), [script, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${path.basename(script)} ${args.join(' ')} failed with exit code ${r.status}`);
}

/**
 * RETINAFACE_GPU_FULL=1: the heavy whole-network cases that the default `npm test` keeps to one
 * representative each (every gpu.js mode at 640x640, 333x517 and on the selfie, the demo's
 * second passes, ResNet-50 at 640x640 on cpu-fast). Read once, here.
 */
export const GPU_FULL = process.env.RETINAFACE_GPU_FULL === '1';
