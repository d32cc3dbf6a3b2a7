// Weights that resolve themselves (Node only). In order:
//   1. an explicit file (--weights / options.weights): a .pth or a converted file;
//   2. the converted file in the cache directory: $RETINAFACE_CACHE, else
//      $XDG_CACHE_HOME/retinaface-ts, else ~/.cache/retinaface-ts;
//   3. the official .pth in $RETINAFACE_WEIGHTS_DIR (tests and CI point it at ../shared/weights),
//      sha256-checked, converted into the cache;
//   4. a download of the official checkpoint (URL, size and sha256 from weights/manifest.json),
//      with a progress line, sha256-checked, converted into the cache.
// Nothing half-written is ever left in the cache: downloads and conversions go to temporary
// files that are renamed into place only once complete and verified.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as os from 'node:os';
import * as path from 'node:path';
import { RetinaFaceError } from '../errors.js';
import { ARCHS, type Arch } from '../model/config.js';
import { convertCheckpoint, loadWeights, type LoadedWeights } from './convert.js';
import { DATA_SHA256 } from './format.js';

export interface CheckpointSource {
  /** the official file name, looked for in $RETINAFACE_WEIGHTS_DIR */
  file: string;
  url: string;
  sha256: string;
  bytes: number;
}

/**
 * The official checkpoints (biubug6/Pytorch_Retinaface, mirrored by xinntao/facexlib v0.1.0), as
 * weights/manifest.json lists them (shipped in the package beside dist/).
 */
export const MANIFEST_URL = new URL('../../../weights/manifest.json', import.meta.url);

/** Reads and checks weights/manifest.json: one entry per arch, each with file, url, bytes, sha256. */
export function readManifest(url: URL = MANIFEST_URL): Record<Arch, CheckpointSource> {
  const file = url.protocol === 'file:' ? fileURLToPath(url) : url.href;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(url, 'utf8'));
  } catch (e) {
    throw new RetinaFaceError(`cannot read the weights manifest: ${(e as Error).message.split('\n')[0]}`, { file, code: 'EMANIFEST' });
  }
  const checkpoints = (parsed as { checkpoints?: Record<string, Partial<CheckpointSource>> } | null)?.checkpoints;
  const out: Partial<Record<Arch, CheckpointSource>> = {};
  for (const arch of ARCHS) {
    const c = checkpoints?.[arch];
    const ok = c !== undefined && typeof c.file === 'string' && typeof c.url === 'string' && Number.isSafeInteger(c.bytes) && (c.bytes ?? 0) > 0 &&
      typeof c.sha256 === 'string' && /^[0-9a-f]{64}$/.test(c.sha256);
    if (!ok) throw new RetinaFaceError(`the weights manifest has no valid entry for ${arch} (file, url, bytes, sha256)`, { file, code: 'EMANIFEST' });
    out[arch] = { file: c.file!, url: c.url!, bytes: c.bytes!, sha256: c.sha256! };
  }
  return out as Record<Arch, CheckpointSource>;
}

/** The official checkpoints: weights/manifest.json, read once. */
export const OFFICIAL_CHECKPOINTS: Readonly<Record<Arch, CheckpointSource>> = readManifest();

export interface ResolveOptions {
  /** an explicit .pth or converted file: used as is, never cached */
  weights?: string;
  cacheDir?: string;
  /** a folder holding the official .pth files (default $RETINAFACE_WEIGHTS_DIR) */
  weightsDir?: string;
  /** false: never download (default true, unless $RETINAFACE_OFFLINE=1) */
  download?: boolean;
  /** override the official source (tests serve it from 127.0.0.1) */
  source?: CheckpointSource;
  /** progress lines (downloads, conversions); default: stderr when it is a terminal, else silent */
  onProgress?: (line: string) => void;
  /** request timeout for the download, ms (default 60 000 without data) */
  timeoutMs?: number;
}

export function defaultCacheDir(): string {
  if (process.env.RETINAFACE_CACHE) return process.env.RETINAFACE_CACHE;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'retinaface-ts');
}

export function cachedWeightsPath(arch: Arch, cacheDir = defaultCacheDir()): string {
  return path.join(cacheDir, `retinaface-${arch}.safetensors`);
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** RETINAFACE_OFFLINE=1 (or true, yes, on, any case): never download. */
export function offline(env: Record<string, string | undefined> = process.env): boolean {
  return /^(1|true|yes|on)$/i.test((env.RETINAFACE_OFFLINE ?? '').trim());
}

function defaultProgress(line: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
  else if (line.endsWith('done') || line.startsWith('converted')) process.stderr.write(`${line}\n`);
}

/** Finds, downloads or converts the weights of `arch` and loads them. */
export async function resolveWeights(arch: Arch, opts: ResolveOptions = {}): Promise<LoadedWeights & { file: string }> {
  const progress = opts.onProgress ?? defaultProgress;
  if (opts.weights !== undefined) {
    const w = await loadWeights(opts.weights);
    if (w.arch !== arch) {
      throw new RetinaFaceError(`holds ${w.arch} weights but --arch is ${arch}`, { file: opts.weights, code: 'EWEIGHTS' });
    }
    return { ...w, file: opts.weights };
  }
  const source = opts.source ?? OFFICIAL_CHECKPOINTS[arch];
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const cached = cachedWeightsPath(arch, cacheDir);
  if (existsSync(cached)) {
    // A stale, foreign or damaged file under our name, or one from before data_sha256 (which the
    // browser loader requires): rebuild it rather than trust it.
    const w = await loadWeights(cached).catch((e: unknown) => {
      if (e instanceof RetinaFaceError) return null;
      throw e;
    });
    if (w !== null && w.arch === arch && w.metadata.source_sha256 === source.sha256 && w.metadata[DATA_SHA256] !== undefined) return { ...w, file: cached };
  }
  const weightsDir = opts.weightsDir ?? process.env.RETINAFACE_WEIGHTS_DIR;
  // the official name, and the name the download URL saves it under
  const names = [...new Set([source.file, path.basename(new URL(source.url).pathname)])];
  if (weightsDir !== undefined && weightsDir !== '') {
    const local = names.map((n) => path.join(weightsDir, n)).find((f) => existsSync(f));
    if (local !== undefined) {
      const sha = await sha256File(local);
      if (sha !== source.sha256) {
        throw new RetinaFaceError(`sha256 ${sha} differs from the official ${source.sha256}; remove it, or pass it explicitly (weights option, --weights)`, { file: local, code: 'ECHECKSUM' });
      }
      try {
        await fs.mkdir(cacheDir, { recursive: true }).catch(() => undefined); // a failure shows as EWRITE below
        await convertCheckpoint(local, cached, { arch });
      } catch (e) {
        if (!(e instanceof RetinaFaceError) || e.code !== 'EWRITE') throw e;
        // A read-only cache costs a conversion per load, not the run: the checkpoint loads as it is.
        progress(`retinaface: cannot write the cache (${e.message}); loading ${local} directly (set RETINAFACE_CACHE to a writable folder to convert once)`);
        return { ...(await loadWeights(local, { arch })), file: local };
      }
      progress(`converted ${local} -> ${cached}`);
      const w = await loadWeights(cached);
      return { ...w, file: cached };
    }
  }

  const allowed = opts.download ?? !offline();
  const where = weightsDir !== undefined && weightsDir !== ''
    ? `the weights folder ${weightsDir} holds neither ${names.join(' nor ')}`
    : 'no weights folder is set';
  const help = `give a .pth or converted file (weights option, --weights FILE), or put ${source.file} (${source.url}) in a folder named by the weightsDir option or RETINAFACE_WEIGHTS_DIR`;
  if (!allowed) throw new RetinaFaceError(`no ${arch} weights found and downloads are off (${where}): ${help}`, { code: 'ENOWEIGHTS' });
  await mkdirOrFail(cacheDir);
  const tmp = path.join(cacheDir, `.${source.file}.${process.pid}.${Date.now()}.download`);
  try {
    await download(source, tmp, progress, opts.timeoutMs ?? 60_000);
    await convertCheckpoint(tmp, cached, { arch });
    progress(`converted ${source.file} -> ${cached}`);
  } catch (e) {
    if (e instanceof RetinaFaceError && e.code !== 'EDOWNLOAD') throw e;
    throw new RetinaFaceError(`no ${arch} weights found (${where}) and the download failed (${(e as Error).message}): ${help}`, { code: 'ENOWEIGHTS', cause: e });
  } finally {
    await fs.rm(tmp, { force: true });
  }
  const w = await loadWeights(cached);
  return { ...w, file: cached };
}

async function mkdirOrFail(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new RetinaFaceError(`cannot create the cache directory (${(e as Error).message}); set RETINAFACE_CACHE`, { file: dir, code: 'EWRITE' });
  }
}

/** Streams `source.url` into `dest`, checking size and sha256 before returning. */
async function download(source: CheckpointSource, dest: string, progress: (line: string) => void, timeoutMs: number): Promise<void> {
  const fail = (msg: string) => new RetinaFaceError(msg, { code: 'EDOWNLOAD' });
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), timeoutMs);
  let res: Response;
  try {
    res = await fetch(source.url, { signal: controller.signal, redirect: 'follow' });
  } catch (e) {
    clearTimeout(timer);
    throw fail(`${source.url}: ${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`);
  }
  if (!res.ok || res.body === null) {
    clearTimeout(timer);
    throw fail(`${source.url}: HTTP ${res.status}`);
  }
  const hash = createHash('sha256');
  const out = createWriteStream(dest, { flags: 'wx' });
  let received = 0;
  let lastShown = -1;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), timeoutMs);
      received += chunk.length;
      if (received > source.bytes) throw fail(`${source.url}: more than the expected ${source.bytes} bytes`);
      hash.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      const pct = Math.floor((100 * received) / source.bytes);
      if (pct !== lastShown) {
        lastShown = pct;
        progress(`downloading ${source.file}: ${pct}% (${(received / 1e6).toFixed(1)} of ${(source.bytes / 1e6).toFixed(1)} MB)`);
      }
    }
  } catch (e) {
    throw e instanceof RetinaFaceError ? e : fail(`${source.url}: connection lost after ${received} bytes (${(e as Error).message})`);
  } finally {
    clearTimeout(timer);
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }
  if (received !== source.bytes) throw fail(`${source.url}: got ${received} of ${source.bytes} bytes`);
  const sha = hash.digest('hex');
  if (sha !== source.sha256) throw fail(`${source.url}: sha256 ${sha} differs from the expected ${source.sha256}`);
  progress(`downloading ${source.file}: done`);
}
