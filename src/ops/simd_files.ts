// cpu-simd's module builds by name, apart from the generator (simd/module.ts) so that the
// published types of the entries that mention them need neither it nor the WebAssembly lib types.

/**
 * The two memories cpu-simd instantiates its one module over: a plain one (one thread), or one
 * shared with worker threads (a shared memory must declare its maximum: 65536 pages = 4 GiB,
 * all a 32-bit address reaches). The module is generic otherwise (no shape is baked in), so these
 * two builds are all there is to precompile.
 */
export const SIMD_MEMORY = {
  plain: { initial: 1 },
  shared: { initial: 1, maximum: 65536, shared: true },
} as const;

/**
 * The precompiled builds of the module, emitted by the package build (docs/demo/build.ts) into
 * dist/wasm/ and dist/browser/: for runtimes that forbid compiling WebAssembly from bytes
 * but import .wasm files as modules compiled at deploy time (Cloudflare Workers, edge functions):
 * 'retinaface-ts/wasm/retinaface-simd.wasm'. (A page whose CSP lacks 'wasm-unsafe-eval' may compile
 * no WebAssembly at all: there `auto` runs cpu.)
 */
export const SIMD_WASM_FILES = { plain: 'retinaface-simd.wasm', shared: 'retinaface-simd-shared.wasm' } as const;

/**
 * A compiled WebAssembly.Module, typed by shape so that the Node typings need no DOM or
 * WebAssembly lib: `await WebAssembly.compile(bytes)`, or a Worker's `import m from './x.wasm'`.
 */
export type CompiledWasmModule = object;

/** cpu-simd's kernel module precompiled: `plain` for one thread, `shared` for worker threads. */
export interface SimdModules {
  plain?: CompiledWasmModule;
  shared?: CompiledWasmModule;
}
