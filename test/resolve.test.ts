// Weights that resolve themselves: cache, local folder, download from a server on 127.0.0.1
// (success, wrong hash, 404, connection cut mid-file), and nothing half-written left behind.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RetinaFaceError } from '../src/errors.js';
import { cachedWeightsPath, OFFICIAL_CHECKPOINTS, resolveWeights, type CheckpointSource } from '../src/weights/resolve.js';
import { officialCheckpoint } from './helpers/paths.js';

const official = readFileSync(officialCheckpoint());
const quiet = () => undefined;

/** Serves /good (the checkpoint), /cut (half of it, then the socket closes), anything else 404. */
async function withServer<R>(fn: (base: string) => Promise<R>): Promise<R> {
  const server = http.createServer((req, res) => {
    if (req.url === '/good') {
      res.writeHead(200, { 'content-length': official.length });
      res.end(official);
    } else if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': official.length });
      res.write(official.subarray(0, official.length >> 1), () => res.socket?.destroy());
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

function tempCache(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'retinaface-cache-'));
}

function source(url: string, sha256 = OFFICIAL_CHECKPOINTS['mobile0.25'].sha256): CheckpointSource {
  return { ...OFFICIAL_CHECKPOINTS['mobile0.25'], url, sha256 };
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<RetinaFaceError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, RetinaFaceError);
    assert.match((e as Error).message, pattern);
    assert.not.match((e as Error).message, /\n/, 'one line');
    return e as RetinaFaceError;
  }
  throw new Error(`expected a rejection matching ${pattern}`);
}

test('download: verified, converted, cached; the second call uses the cache', async () => {
  const cacheDir = tempCache();
  try {
    await withServer(async (base) => {
      const lines: string[] = [];
      const w = await resolveWeights('mobile0.25', { cacheDir, weightsDir: '', download: true, source: source(`${base}/good`), onProgress: (l) => lines.push(l) });
      assert.is(w.arch, 'mobile0.25');
      assert.is(w.metadata.source_sha256, OFFICIAL_CHECKPOINTS['mobile0.25'].sha256);
      assert.is(w.file, cachedWeightsPath('mobile0.25', cacheDir));
      assert.ok(lines.some((l) => /downloading mobilenet0\.25_Final\.pth: 100%/.test(l)), 'progress reached 100%');
      assert.equal(readdirSync(cacheDir), ['retinaface-mobile0.25.safetensors'], 'only the converted file is left');
      // The server is now told to 404 everything: the cache must answer.
      const again = await resolveWeights('mobile0.25', { cacheDir, weightsDir: '', source: source(`${base}/gone`), onProgress: quiet });
      assert.is(again.file, w.file);
    });
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('download: wrong hash, 404 and a connection cut mid-file fail with one line and leave nothing', async () => {
  const cacheDir = tempCache();
  try {
    await withServer(async (base) => {
      const opts = { cacheDir, weightsDir: '', download: true, onProgress: quiet };
      await rejects(resolveWeights('mobile0.25', { ...opts, source: source(`${base}/good`, '0'.repeat(64)) }), /sha256 [0-9a-f]{64} differs/);
      await rejects(resolveWeights('mobile0.25', { ...opts, source: source(`${base}/missing`) }), /HTTP 404/);
      await rejects(resolveWeights('mobile0.25', { ...opts, source: source(`${base}/cut`) }), /connection lost|got \d+ of/);
      assert.equal(readdirSync(cacheDir), [], 'no partial download or conversion left in the cache');
    });
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('offline with nothing found: one line saying what to do', async () => {
  const cacheDir = tempCache();
  try {
    const e = await rejects(resolveWeights('mobile0.25', { cacheDir, weightsDir: '', download: false, onProgress: quiet }), /--weights FILE.*RETINAFACE_WEIGHTS_DIR/);
    assert.is(e.code, 'ENOWEIGHTS');
    // A refused connection (nothing listens on port 9 of 127.0.0.1) reads the same way.
    await rejects(resolveWeights('mobile0.25', { cacheDir, weightsDir: '', download: true, source: source('http://127.0.0.1:9/x'), onProgress: quiet }), /download failed.*RETINAFACE_WEIGHTS_DIR/);
    assert.equal(readdirSync(cacheDir), []);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('a local folder with the official .pth is verified and converted into the cache', async () => {
  const cacheDir = tempCache();
  try {
    const w = await resolveWeights('mobile0.25', { cacheDir, weightsDir: path.dirname(officialCheckpoint()), download: false, onProgress: quiet });
    assert.ok(existsSync(cachedWeightsPath('mobile0.25', cacheDir)));
    assert.is(w.metadata.source_sha256, createHash('sha256').update(official).digest('hex'));
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test.run();
