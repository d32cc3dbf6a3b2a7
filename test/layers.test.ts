// The import graph of src/ and bench/ (issue 15, item 3): no cycle, counting every static import
// (type-only ones too: a reader follows them the same way; dynamic import() is how a backend is
// loaded on demand and is left out), and the layers point one way: the Backend interface imports
// no backend, the network definition (src/model) imports no backend; the op harness (src/harness)
// is shared by the tests and the benchmarks and imports neither.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot } from './helpers/paths.js';

/** Every .ts file under `dir` (relative to the repository), with its relative static imports resolved to files. */
function graph(dirs: string[]): Map<string, string[]> {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(path.join(repoRoot, d), { withFileTypes: true })) {
      const rel = path.posix.join(d, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) files.push(rel);
    }
  };
  dirs.forEach(walk);
  const known = new Set(files);
  const g = new Map<string, string[]>();
  // `import ... from '...'` and `export ... from '...'`, across lines; not `import('...')`
  const re = /^(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gm;
  for (const f of files) {
    const deps: string[] = [];
    for (const m of readFileSync(path.join(repoRoot, f), 'utf8').matchAll(re)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1]!.replace(/\.js$/, '.ts')));
      if (known.has(target)) deps.push(target);
    }
    g.set(f, deps);
  }
  return g;
}

/** The cycles of a graph, one per strongly connected component of more than one file (or a self-import). */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); on.add(v);
    for (const w of g.get(v)!) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || g.get(v)!.includes(v)) out.push(comp.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

test('the checker finds a cycle when there is one', () => {
  const g = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]);
  assert.equal(cycles(g), [['a.ts', 'b.ts', 'c.ts']]);
});

test('no import cycle in src/ or in bench/ (static imports, type-only included)', () => {
  const src = graph(['src']);
  assert.ok(src.size > 80, `${src.size} files in src/`);
  // the edges are read (a multi-line import, a type-only import, a re-export)
  assert.ok(src.get('src/detector.ts')!.includes('src/backends/index.ts'), 'detector.ts -> backends/index.ts');
  assert.ok(src.get('src/backend.ts')!.includes('src/model/modules.ts'), 'backend.ts -> model/modules.ts (type-only)');
  assert.ok(src.get('src/browser.ts')!.includes('src/worker/worker_detector.ts'), 'browser.ts re-exports worker_detector.ts');
  assert.equal(cycles(src), [], 'src/');
  const bench = graph(['bench']);
  assert.ok(bench.size > 10, `${bench.size} files in bench/`);
  assert.equal(cycles(bench), [], 'bench/');
});

test('layers point one way: src/backend.ts (the interface) imports no backend; src/model imports no backend', () => {
  const g = graph(['src']);
  assert.equal(g.get('src/backend.ts')!.filter((d) => d.startsWith('src/backends/')), []);
  for (const [f, deps] of g) {
    if (f.startsWith('src/model/')) assert.equal(deps.filter((d) => d.startsWith('src/backends/')), [], f);
  }
});

test('the network definition holds no memory bookkeeping: no release call in src/model outside the runner (run.ts, schedule.ts)', () => {
  const dir = path.join(repoRoot, 'src', 'model');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts') && !['run.ts', 'schedule.ts'].includes(n))) {
    const calls = readFileSync(path.join(dir, f), 'utf8').split('\n').filter((l) => /\.release(Input)?\(/.test(l) && !l.trim().startsWith('//'));
    assert.equal(calls, [], `src/model/${f}`);
  }
});

test('src/harness is shared by bench/ and test/ and imports neither; bench/ imports nothing from test/; only the bench tests import bench/', () => {
  const g = graph(['src', 'bench', 'test', 'docs/demo']);
  const harness = [...g].filter(([f]) => f.startsWith('src/harness/'));
  assert.ok(harness.length >= 8, `${harness.length} files in src/harness/`);
  for (const [f, deps] of harness) assert.equal(deps.filter((d) => d.startsWith('test/') || d.startsWith('bench/')), [], f);
  // the rest of src/ does not depend on the harness (it is left out of the package)
  for (const [f, deps] of g) if (f.startsWith('src/') && !f.startsWith('src/harness/')) assert.equal(deps.filter((d) => d.startsWith('src/harness/')), [], f);
  for (const [f, deps] of g) if (f.startsWith('bench/')) assert.equal(deps.filter((d) => d.startsWith('test/')), [], f);
  // test/bench.test.ts, and test/kernels_page.test.ts, which renders the kernel page's JSON with bench/report.ts
  const benchTests = ['test/bench.test.ts', 'test/kernels_page.test.ts'];
  for (const [f, deps] of g) if (f.startsWith('test/') && !benchTests.includes(f)) assert.equal(deps.filter((d) => d.startsWith('bench/')), [], f);
  // both sides do use it
  assert.ok(g.get('bench/kernel_suite.ts')!.includes('src/harness/cases.ts'), 'bench/kernel_suite.ts -> src/harness/cases.ts');
  assert.ok(g.get('test/backend_ops.test.ts')!.includes('src/harness/cases.ts'), 'test/backend_ops.test.ts -> src/harness/cases.ts');
});

test.run();
