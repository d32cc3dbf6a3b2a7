// A static file server for the Chromium harness, bound to 127.0.0.1 on a free port. It serves
// only what the page needs: the compiled library and tests (dist/), gpu.js's browser build, the
// harness files (test/browser/) and the generated fixtures (.cache/browser/, .cache/weights/).
// Cross-origin isolation headers make SharedArrayBuffer available (gpu.js webasm threads).
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json',
  '.json': 'application/json', '.rfw': 'application/octet-stream',
};
const ALLOWED = ['dist/', 'node_modules/gpu.js/dist/', 'test/browser/', '.cache/browser/', '.cache/weights/'];

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/** Serves ALLOWED (and `extra`, more path prefixes) under root. */
export async function serveStatic(root: string, extra: readonly string[] = []): Promise<StaticServer> {
  const allowed = [...ALLOWED, ...extra];
  const server: Server = createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname).replace(/^\/+/, '');
    const file = path.resolve(root, rel);
    const inside = file.startsWith(path.resolve(root) + path.sep);
    if (!inside || !allowed.some((p) => rel.startsWith(p)) || rel.includes('..')) {
      res.writeHead(404).end('not served');
      return;
    }
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
