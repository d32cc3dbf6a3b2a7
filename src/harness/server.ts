// What the Chromium harness serves (docs/demo/static_server.ts does the serving): the compiled
// library and tests (dist/), gpu.js's browser build and the shim that maps 'gpu.js' to it, the
// test pages (test/browser/) and the generated fixtures (.cache/browser/, .cache/weights/).
import { serveStatic as serve, type StaticServer } from '../../docs/demo/static_server.js';

export type { StaticServer } from '../../docs/demo/static_server.js';

const ALLOWED = ['dist/', 'node_modules/gpu.js/dist/', 'test/browser/', 'docs/demo/gpujs-shim.js', '.cache/browser/', '.cache/weights/'];

/** Serves ALLOWED (and `extra`, more path prefixes) under root. */
export function serveStatic(root: string, extra: readonly string[] = []): Promise<StaticServer> {
  return serve(root, { allowed: [...ALLOWED, ...extra] });
}
