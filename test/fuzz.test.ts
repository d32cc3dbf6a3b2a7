// The fuzz smoke run (issue #21): every target of test/fuzz/targets.ts for a fixed number of
// structure-aware mutations from a fixed seed (deterministic, about 30 s in all), then every kept
// regression input. The long campaigns are `npm run fuzz -- --target NAME --minutes N`
// (test/fuzz/run.ts); docs/security.md has the property, the targets and the results.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runOne, showInput } from './fuzz/property.js';
import { REGRESSIONS } from './fuzz/regressions.js';
import { TARGETS, targetByName } from './fuzz/targets.js';

/** Fixed: the smoke run sees the same inputs every time. */
const SMOKE_SEED = 21;
/** Per input, generous for a shared 2-core machine: the long runner's bound is what documents hangs. */
const SMOKE_SLOW_MS = 2000;

for (const target of TARGETS) {
  test(`fuzz smoke: ${target.name} (${target.smokeRuns} inputs, seed ${SMOKE_SEED})`, async () => {
    const counts = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(target.arbitrary(), async (input) => {
        const v = await runOne(target, input, SMOKE_SLOW_MS);
        if (!v.ok) throw new Error(`${target.name}: ${v.kind}: ${v.message}\ninput ${showInput(input).slice(0, 2000)}`);
        counts[v.outcome]++;
      }),
      { seed: SMOKE_SEED, numRuns: target.smokeRuns, endOnFailure: true },
    );
    // a mutation engine that only produced garbage would test nothing past the first check
    assert.ok(counts.accepted + counts.refused === target.smokeRuns || counts.accepted + counts.refused > 0);
  });
}

test(`fuzz regressions: ${REGRESSIONS.length} kept inputs`, async () => {
  for (const r of REGRESSIONS) {
    const v = await runOne(targetByName(r.target), r.input(), SMOKE_SLOW_MS);
    assert.ok(v.ok, `${r.target} ${r.name} (${r.finding}; fixed in ${r.fix}): ${v.ok ? '' : `${v.kind}: ${v.message}`}`);
  }
});

test.run();
