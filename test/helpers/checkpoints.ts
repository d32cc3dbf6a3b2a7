// The checkpoint fixtures of test/torch/checkpoints.py, generated once by PyTorch into
// .cache/checkpoints/<hash of the script>/ (git-ignored) and regenerated when the script changes
// or the directory is incomplete (its manifest.json is written last).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { cacheDir, officialCheckpoint, repoRoot, runTorchPython } from './paths.js';

const SCRIPT = path.join(repoRoot, 'test', 'torch', 'checkpoints.py');

let dir: string | undefined;

/** The fixture directory, generating it first if needed (a few seconds, once). */
export function checkpointFixtures(): string {
  if (dir !== undefined) return dir;
  const hash = createHash('sha256').update(readFileSync(SCRIPT)).digest('hex').slice(0, 12);
  const target = path.join(cacheDir('checkpoints'), hash);
  if (!existsSync(path.join(target, 'manifest.json'))) {
    // generate beside the target and rename it into place, so that a crash leaves no half directory
    const tmp = `${target}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    runTorchPython(SCRIPT, [officialCheckpoint(), tmp, markerDir(target)]);
    rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
    // fixtures of older versions of the script (about 230 MB each, mostly ResNet-50) go
    for (const old of readdirSync(path.dirname(target))) {
      if (!old.startsWith(hash) && !old.endsWith('.tmp')) rmSync(path.join(path.dirname(target), old), { recursive: true, force: true });
    }
  }
  dir = target;
  return dir;
}

/** Where the hostile fixtures would create their marker files if anything ever ran them. */
export function markerDir(fixtures = checkpointFixtures()): string {
  return `${fixtures}-markers`;
}

/** A fixture file by name (see the list in test/torch/checkpoints.py). */
export function fixture(name: string): string {
  return path.join(checkpointFixtures(), name);
}
