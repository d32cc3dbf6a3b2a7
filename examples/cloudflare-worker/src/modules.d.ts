// What wrangler's default module rules give these imports: *.bin -> Data (an ArrayBuffer),
// *.wasm -> CompiledWasm (a WebAssembly.Module).
declare module '*.bin' {
  const data: ArrayBuffer;
  export default data;
}
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
