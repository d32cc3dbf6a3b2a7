// fetchWeights (src/weights/fetch.ts), the browser's way to load weights, run in Node against a
// local HTTP server: progress, the data_sha256 check against the file's own metadata, a pinned
// sha256, checkpoints converted in memory, and every failure as one RetinaFaceError naming the
// source (HTTP status, size limit, corruption, a file from before data_sha256, not weights at all).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RetinaFaceError } from '../src/errors.js';
import { convertCheckpoint, loadWeights } from '../src/weights/convert.js';
import { fetchWeights, type WeightsProgress } from '../src/weights/fetch.js';
import { encodeTensorFile } from '../src/weights/format.js';
import { sha256HexSync } from '../src/weights/sha256.js';
import { cacheDir, officialCheckpoint } from './helpers/paths.js';

/** sha256 of ../shared/weights/mobilenet0.25_Final.pth, from ../shared/weights/SOURCES.md */
const OFFICIAL_SHA256 = '2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220';

let converted: Uint8Array;
let server: Server;
let base = '';
/** path -> how to answer */
const routes = new Map<string, { body: Uint8Array; length?: number | 'none'; chunk?: number; cut?: number }>();

test.before(async () => {
  const file = path.join(cacheDir('fetch-test'), 'mobile.safetensors');
  await convertCheckpoint(officialCheckpoint(), file);
  converted = readFileSync(file);
  server = createServer((req, res) => {
    const r = routes.get(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    if (r === undefined) {
      res.writeHead(404, 'Not Found').end();
      return;
    }
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
    if (r.length !== 'none') headers['content-length'] = r.length ?? r.body.length;
    res.writeHead(200, headers);
    const chunk = r.chunk ?? 64 * 1024;
    const end = r.cut ?? r.body.length;
    let pos = 0;
    const pump = () => {
      while (pos < end) {
        const next = Math.min(end, pos + chunk);
        const ok = res.write(r.body.subarray(pos, next));
        pos = next;
        if (!ok) { res.once('drain', pump); return; }
      }
      if (r.cut !== undefined) res.destroy(); else res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

async function refused(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, RetinaFaceError);
    assert.is((e as RetinaFaceError).code, code, (e as Error).message);
    assert.match((e as Error).message, pattern);
    assert.not.match((e as Error).message, /\n/, 'one line');
    return;
  }
  assert.unreachable(`accepted; expected ${code} ${pattern}`);
}

test('fetchWeights: from a URL with progress, checked against data_sha256, tensors equal loadWeights\'', async () => {
  routes.set('/w.safetensors', { body: converted });
  const seen: WeightsProgress[] = [];
  const w = await fetchWeights(`${base}/w.safetensors`, { onProgress: (p) => seen.push({ ...p }) });
  assert.is(w.arch, 'mobile0.25');
  assert.is(w.bytes, converted.length);
  assert.is(w.checked, 'data_sha256');
  assert.ok(seen.length >= Math.ceil(converted.length / (64 * 1024)), `${seen.length} progress calls`);
  assert.equal(seen[0], { loaded: 0, total: converted.length });
  assert.equal(seen.at(-1), { loaded: converted.length, total: converted.length });
  assert.ok(seen.every((p, i) => i === 0 || p.loaded >= seen[i - 1]!.loaded), 'monotone');
  const want = await loadWeights(path.join(cacheDir('fetch-test'), 'mobile.safetensors'));
  assert.equal([...w.tensors.keys()], [...want.tensors.keys()]);
  for (const [k, t] of want.tensors) assert.ok(Buffer.from(w.tensors.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer)), k);
});

test('fetchWeights: without Content-Length the total is null; bytes, ArrayBuffers and Blobs load too', async () => {
  routes.set('/chunked', { body: converted, length: 'none', chunk: 100_000 });
  const seen: WeightsProgress[] = [];
  const w = await fetchWeights(`${base}/chunked`, { onProgress: (p) => seen.push({ ...p }) });
  assert.is(w.bytes, converted.length);
  assert.ok(seen.every((p) => p.total === null));
  assert.is(seen.at(-1)!.loaded, converted.length);
  for (const src of [converted, converted.slice().buffer, new Blob([converted.slice()])]) {
    const v = await fetchWeights(src);
    assert.is(v.arch, 'mobile0.25');
    assert.is(v.tensors.size, 253);
  }
});

test('fetchWeights: a pinned sha256 is checked on the whole file', async () => {
  const ok = await fetchWeights(converted, { sha256: sha256HexSync(converted).toUpperCase() });
  assert.is(ok.checked, 'sha256, data_sha256');
  await refused(fetchWeights(converted, { sha256: '0'.repeat(64) }), 'ECHECKSUM', /^<weights bytes>: sha256 is [0-9a-f]{64}, expected 0{64}$/);
});

test('fetchWeights: one changed byte, a cut download, a file without data_sha256 are refused', async () => {
  const flipped = converted.slice();
  flipped[flipped.length - 1000] ^= 0x01;
  routes.set('/flipped', { body: flipped });
  await refused(fetchWeights(`${base}/flipped`), 'ECHECKSUM', /\/flipped: sha256 of the tensor data is [0-9a-f]{64}, but the file's data_sha256 says [0-9a-f]{64}: the file is corrupted or was modified$/);
  routes.set('/cut', { body: converted, cut: converted.length >> 1 });
  await refused(fetchWeights(`${base}/cut`), 'EDOWNLOAD', /\/cut: download interrupted after \d+ bytes/);
  const want = await loadWeights(path.join(cacheDir('fetch-test'), 'mobile.safetensors'));
  const old = encodeTensorFile(want.tensors, { arch: 'mobile0.25' });
  await refused(fetchWeights(old), 'EWEIGHTS', /has no data_sha256 in its metadata.*retinaface convert/);
});

test('fetchWeights: a PyTorch checkpoint is converted in memory, as retinaface convert does', async () => {
  const pth = readFileSync(officialCheckpoint());
  routes.set('/mobilenet0.25_Final.pth', { body: pth });
  const w = await fetchWeights(`${base}/mobilenet0.25_Final.pth?v=1`);
  assert.equal(w.metadata, { arch: 'mobile0.25', source_sha256: OFFICIAL_SHA256, source_file: 'mobilenet0.25_Final.pth' });
  assert.is(w.checked, 'none');
  const want = await loadWeights(officialCheckpoint());
  for (const [k, t] of want.tensors) assert.ok(Buffer.from(w.tensors.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer)), k);
});

test('fetchWeights: HTTP errors, the size limit, another arch and non-weights get one line naming the source', async () => {
  await refused(fetchWeights(`${base}/nothing-here`), 'EDOWNLOAD', /\/nothing-here: HTTP 404 Not Found$/);
  routes.set('/big', { body: converted });
  await refused(fetchWeights(`${base}/big`, { maxBytes: 1000 }), 'ETOOLARGE', new RegExp(`/big: ${converted.length} bytes is over the 1000-byte limit`));
  routes.set('/big-chunked', { body: converted, length: 'none' });
  await refused(fetchWeights(`${base}/big-chunked`, { maxBytes: 100_000 }), 'ETOOLARGE', /\/big-chunked: \d+ bytes is over the 100000-byte limit/);
  await refused(fetchWeights(converted, { arch: 'resnet50' }), 'EWEIGHTS', /weights are for mobile0\.25, not resnet50/);
  await refused(fetchWeights(new TextEncoder().encode('<html>404</html>')), 'EFORMAT', /neither a converted weights file nor a PyTorch checkpoint/);
  await refused(fetchWeights(converted, { maxBytes: 0 }), 'EOPTION', /invalid option maxBytes: 0/);
  await refused(fetchWeights('http://127.0.0.1:1/w'), 'EDOWNLOAD', /cannot fetch/);
});

test.run();
