// The browser entry (src/browser.ts) must not pull a Node built-in anywhere in its import graph:
// walk the compiled modules from dist/src/browser.js, following relative imports, and allow no
// bare specifier but 'gpu.js' (which a bundler resolves to gpu.js's browser build).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot } from './helpers/paths.js';

const ALLOWED_BARE = new Set(['gpu.js']);

function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of src.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

test('browser entry: no Node built-in and no bare import but gpu.js in the whole import graph', () => {
  const entry = path.join(repoRoot, 'dist', 'src', 'browser.js');
  const seen = new Set<string>();
  const bad: string[] = [];
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) stack.push(path.resolve(path.dirname(file), spec));
      else if (!ALLOWED_BARE.has(spec)) bad.push(`${path.relative(repoRoot, file)} imports '${spec}'`);
    }
  }
  assert.ok(seen.size > 20, `walked ${seen.size} modules`);
  assert.equal(bad, [], bad.join('\n'));
});

test.run();
