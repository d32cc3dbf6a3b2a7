// A static file server bound to 127.0.0.1, for the demo (`npm run demo`, serve.ts) and the
// Chromium tests (src/harness/chromium.ts). It serves only files under the given path prefixes
// of `root`, never outside it, and sends the cross-origin isolation headers (COOP/COEP) that
// make SharedArrayBuffer available (cpu-simd's and gpu.js webasm's threads need it) unless told not to.
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg',
  '.rfw': 'application/octet-stream', '.safetensors': 'application/octet-stream', '.svg': 'image/svg+xml',
};

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

export interface StaticOptions {
  /** path prefixes under root that are served ('' serves everything under root) */
  allowed: readonly string[];
  /** the port (default 0: any free one) */
  port?: number;
  /** what '/' serves (default: 404) */
  index?: string;
  /** where '/' redirects instead (a path such as '/demo/': pages whose relative URLs need their own folder) */
  home?: string;
  /** send COOP/COEP (default true); false plays a plain static host, where pages cannot share memory */
  isolate?: boolean;
}

/** Serves `opts.allowed` under root on 127.0.0.1. */
export async function serveStatic(root: string, opts: StaticOptions): Promise<StaticServer> {
  const base = path.resolve(root);
  const server: Server = createServer((req, res) => {
    let rel: string;
    try {
      rel = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname).replace(/^\/+/, '');
    } catch {
      res.writeHead(400).end('bad path');
      return;
    }
    if (rel === '' && opts.home !== undefined) {
      res.writeHead(302, { location: opts.home }).end();
      return;
    }
    if (rel === '' && opts.index !== undefined) rel = opts.index;
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.resolve(base, rel);
    const inside = file.startsWith(base + path.sep);
    if (!inside || !opts.allowed.some((p) => rel.startsWith(p)) || rel.includes('..')) {
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
      'content-type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': size,
      ...(opts.isolate === false ? {} : { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }),
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
