// Where the tests and the benchmarks find the repository, ../shared (the official checkpoint, the
// test photos) and the git-ignored cache of generated files. Node only.
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs compiled from dist/src/harness/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** ../shared beside the checkout: the official checkpoint and the test photos (never committed). */
export const sharedDir = path.resolve(repoRoot, '..', 'shared');

/** Git-ignored cache for converted weights, PyTorch reference tensors and fixtures. */
export function cacheDir(...sub: string[]): string {
  const dir = path.join(repoRoot, '.cache', ...sub);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The official mobilenet0.25 checkpoint: $RETINAFACE_WEIGHTS_DIR, else ../shared/weights. Fails loudly. */
export function officialCheckpoint(): string {
  const dir = process.env.RETINAFACE_WEIGHTS_DIR ?? path.join(sharedDir, 'weights');
  const file = path.join(dir, 'mobilenet0.25_Final.pth');
  if (!existsSync(file)) {
    throw new Error(`official checkpoint not found at ${file}: set RETINAFACE_WEIGHTS_DIR or provide ../shared/weights`);
  }
  return file;
}
