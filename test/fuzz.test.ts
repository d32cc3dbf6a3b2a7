// The fuzz smoke run (issue #21): every target of test/fuzz/targets.ts for a fixed number of
// structure-aware mutations from a fixed seed (deterministic; about 30 s in all with RETINAFACE_GPU_FULL=1, half by default), then every kept
// regression input. The long campaigns are `npm run fuzz -- --target NAME --minutes N`
// (test/fuzz/run.ts); docs/security.md has the property, the targets and the results.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { decodeImage } from '../src/image/decode.js';
import { readPngBytes } from '../src/image/png_read.js';
import { decodeTensorFile } from '../src/weights/format.js';
import { ALLOWED_GLOBALS } from '../src/weights/pickle.js';
import { readCheckpoint } from '../src/weights/pth.js';
import { runOne, showInput } from './fuzz/property.js';
import { REGRESSIONS } from './fuzz/regressions.js';
import { seedJpegs, seedPngs } from './fuzz/seeds_images.js';
import { legacyCheckpoint, SEED_CHECKPOINTS, tensorFileSeed, tensorFileUnits, zipCheckpoint } from './fuzz/seeds_weights.js';
import { serialize } from './fuzz/structure.js';
import { TARGETS, targetByName } from './fuzz/targets.js';
import { GPU_FULL } from './helpers/paths.js';

/** Fixed: the smoke run sees the same inputs every time. */
const SMOKE_SEED = 21;
/**
 * The share of each target's smokeRuns the default run takes: half (about 15 s idle); all of them
 * with RETINAFACE_GPU_FULL=1. The long campaigns (docs/security.md) are where the fuzzing happens.
 */
const SMOKE_SHARE = GPU_FULL ? 1 : 0.5;
/** Per input, generous for a shared 2-core machine: the long runner's bound is what documents hangs. */
const SMOKE_SLOW_MS = 2000;

// Mutations start from valid files: every seed is accepted as what it was built to be.
test('fuzz seeds: checkpoints, tensor files and images are valid before mutation', () => {
  for (const [i, c] of SEED_CHECKPOINTS.entries()) {
    // what torch.load(...) would give: num_batches_tracked dropped, DataParallel's module. stripped
    const want = c.tensors.filter((t) => !t.key.endsWith('num_batches_tracked')).map((t) => t.key.replace(/^module\./, ''));
    for (const [kind, file] of [['legacy', legacyCheckpoint(c)], ['zip', zipCheckpoint(c)], ['zip64', zipCheckpoint(c, { zip64: true, byteorder: true })]] as const) {
      const got = readCheckpoint(serialize(file), `seed ${i} ${kind}`);
      assert.equal([...got.keys()], want, `seed ${i} ${kind}`);
      for (const t of c.tensors.filter((x) => !x.key.endsWith('num_batches_tracked'))) {
        const g = got.get(t.key.replace(/^module\./, ''))!;
        assert.equal(g.shape, t.size, `seed ${i} ${kind} ${t.key} shape`);
        // element (index) of the storage is index / 8 - 1: the first element of the view
        if (g.data.length > 0) assert.is(g.data[0], t.offset / 8 - 1, `seed ${i} ${kind} ${t.key} first value`);
      }
    }
  }
  const tf = tensorFileSeed([['a', { shape: [2], data: Float32Array.from([1, 2]) }], ['b', { shape: [0], data: new Float32Array(0) }]], {}, true);
  const file = decodeTensorFile(serialize(tensorFileUnits(JSON.stringify(tf.header), tf.data, tf.header)), 'seed.safetensors');
  assert.equal([...file.tensors.keys()], ['a', 'b']);
  for (const png of seedPngs()) assert.ok(readPngBytes(png).data.length > 0);
  for (const jpg of seedJpegs()) assert.ok(decodeImage(jpg, 'seed.jpg').width > 0);
});

// docs/security.md lists the pickle allowlist: it must be the code's.
test('fuzz docs: docs/security.md names every allowlisted pickle global', () => {
  const doc = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
  for (const name of ALLOWED_GLOBALS.keys()) assert.ok(doc.includes(`\`${name}\``), `docs/security.md does not name ${name}`);
});

for (const target of TARGETS) {
  test(`fuzz smoke: ${target.name} (${Math.round(target.smokeRuns * SMOKE_SHARE)} inputs, seed ${SMOKE_SEED})`, async () => {
    const counts = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(target.arbitrary(), async (input) => {
        const v = await runOne(target, input, SMOKE_SLOW_MS);
        if (!v.ok) throw new Error(`${target.name}: ${v.kind}: ${v.message}\ninput ${showInput(input).slice(0, 2000)}`);
        counts[v.outcome]++;
      }),
      { seed: SMOKE_SEED, numRuns: Math.round(target.smokeRuns * SMOKE_SHARE), endOnFailure: true },
    );
    // mutations that were all refused (or all accepted) would test one side of the parser only
    assert.ok(counts.accepted > 0 && counts.refused > 0, `${target.name}: ${counts.accepted} accepted, ${counts.refused} refused`);
  });
}

test(`fuzz regressions: ${REGRESSIONS.length} kept inputs`, async () => {
  for (const r of REGRESSIONS) {
    const v = await runOne(targetByName(r.target), r.input(), SMOKE_SLOW_MS);
    assert.ok(v.ok, `${r.target} ${r.name} (${r.finding}; fixed in ${r.fix}): ${v.ok ? '' : `${v.kind}: ${v.message}`}`);
  }
});

test.run();
