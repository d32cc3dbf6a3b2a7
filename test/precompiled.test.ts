// cpu-simd with its kernel module precompiled (issue 23, item 1): the package's .wasm files are
// the generator's bytes, and where compiling WebAssembly from bytes is forbidden (a Cloudflare
// Worker refuses WebAssembly.compile and new WebAssembly.Module, but instantiates the modules a
// deployment imports) the backend runs on modules compiled beforehand, with the faces of the
// generated path; `auto` picks it, and without the modules falls back to cpu, each saying why.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RetinaFace } from '../src/index.js';
import { buildSimdModule, SIMD_MEMORY, SIMD_WASM_FILES } from '../src/ops/simd/module.js';
import { buildBundle, wasmDir, bundleDir } from '../docs/demo/build.js';
import { cacheDir, officialCheckpoint, sharedImage } from './helpers/paths.js';

process.env.RETINAFACE_CACHE = cacheDir('home');
process.env.RETINAFACE_WEIGHTS_DIR = path.dirname(officialCheckpoint());
process.env.RETINAFACE_OFFLINE = '1';

const group = readFileSync(sharedImage('wider_group.jpg'));

/** What workerd does: no WebAssembly from bytes; instantiating a Module is allowed. */
async function withoutCompilation<T>(fn: () => Promise<T>): Promise<T> {
  const wa = WebAssembly as unknown as Record<string, unknown>;
  const saved = { compile: wa.compile, Module: wa.Module, instantiate: wa.instantiate };
  const refuse = () => { throw new WebAssembly.CompileError('WebAssembly.compile(): Wasm code generation disallowed by embedder'); };
  const Module = saved.Module as typeof WebAssembly.Module;
  wa.compile = () => Promise.reject(new WebAssembly.CompileError('WebAssembly.compile(): Wasm code generation disallowed by embedder'));
  wa.Module = new Proxy(Module, { construct: refuse });
  wa.instantiate = (src: unknown, imports?: WebAssembly.Imports) => {
    if (!(src instanceof Module)) refuse();
    return (saved.instantiate as typeof WebAssembly.instantiate)(src as WebAssembly.Module, imports);
  };
  try {
    return await fn();
  } finally {
    Object.assign(wa, saved);
  }
}

test('the package\'s .wasm files are the generator\'s bytes (dist/wasm and the browser bundle)', async () => {
  await buildBundle();
  for (const kind of ['plain', 'shared'] as const) {
    const want = buildSimdModule(SIMD_MEMORY[kind]);
    for (const dir of [wasmDir, bundleDir]) {
      const file = path.join(dir, SIMD_WASM_FILES[kind]);
      assert.equal(new Uint8Array(readFileSync(file)), want, `${file} equals buildSimdModule(${kind})`);
    }
  }
});

test('no compilation allowed: cpu-simd on the precompiled modules gives the generated (plain SIMD) path\'s faces; auto says why', async () => {
  const modules = {
    plain: await WebAssembly.compile(readFileSync(path.join(wasmDir, SIMD_WASM_FILES.plain))),
    shared: await WebAssembly.compile(readFileSync(path.join(wasmDir, SIMD_WASM_FILES.shared))),
  };
  // The precompiled files are the plain-SIMD build (multiply then add): the generated module to match is that build.
  const generated = await RetinaFace.load({ backend: 'cpu-simd', threads: 2, fma: false });
  const want = await generated.detect(group, { visThreshold: 0 });
  generated.dispose();
  await withoutCompilation(async () => {
    // the refusal is real: generating the module fails here
    const refused = await RetinaFace.load({ backend: 'cpu-simd', threads: 1 }).then(() => null, (e: unknown) => e);
    assert.match(String(refused), /disallowed by embedder/);
    for (const threads of [1, 2]) {
      const d = await RetinaFace.load({ simdModules: modules, threads });
      try {
        assert.is(d.backendName, 'cpu-simd');
        assert.match(d.backendWhy, /^auto chose cpu-simd: precompiled modules given \(compiling WebAssembly here fails: .*disallowed by embedder\)$/);
        assert.is((d.backend as unknown as { threads: number }).threads, threads);
        assert.equal(await d.detect(group, { visThreshold: 0 }), want, `${threads} thread(s): the faces of the generated module`);
      } finally {
        d.dispose();
      }
    }
    const plainOnly = await RetinaFace.load({ simdModules: { plain: modules.plain }, threads: 2 });
    assert.is((plainOnly.backend as unknown as { threads: number }).threads, 1, 'without the shared build: one thread');
    plainOnly.dispose();
    const none = await RetinaFace.load();
    assert.is(none.backendName, 'cpu-fast');
    assert.match(none.backendWhy, /^auto chose cpu: WebAssembly SIMD does not compile here \(.*disallowed by embedder\)$/);
    none.dispose();
  });
});

test.run();
