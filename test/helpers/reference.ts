// The PyTorch reference, seen from the tests: runs test/torch/reference.py (Debian's torch) on a
// tensor this side built, and caches what it writes under the git-ignored .cache/, keyed by the
// hash of everything that determines it. Nothing here, nor anything it writes, is committed.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { readTensorFile, writeTensorFile } from '../../src/weights/files.js';
import type { Tensor } from '../../src/tensor.js';
import { cacheDir, repoRoot, runTorchPython } from './paths.js';

export type Arch = 'mobile0.25' | 'resnet50';
export type Serialization = 'zip' | 'legacy';

/** The script lives in test/ (not compiled): its path from the repository root. */
export const referenceScript = path.join(repoRoot, 'test', 'torch', 'reference.py');

/** The network outputs written after the module outputs: (A, 4), (A, 2) softmaxed, (A, 10). */
export const REFERENCE_OUTPUTS = ['loc', 'conf', 'landms'] as const;

/**
 * The block-level modules whose outputs reference.py writes, by PyTorch module path, in module
 * order (the same rule as block_module_names in the script; test/reference.test.ts checks they
 * agree). The list does not depend on the input size.
 */
export function referenceModuleNames(arch: Arch): string[] {
  const names: string[] = [];
  const body: [string, number][] = arch === 'mobile0.25'
    ? [['stage1', 6], ['stage2', 6], ['stage3', 2]]
    : [['layer1', 3], ['layer2', 4], ['layer3', 6], ['layer4', 3]];
  if (arch === 'resnet50') names.push('body.conv1', 'body.bn1', 'body.relu', 'body.maxpool');
  for (const [stage, blocks] of body) {
    names.push(`body.${stage}`);
    for (let i = 0; i < blocks; i++) names.push(`body.${stage}.${i}`);
  }
  for (const m of ['output1', 'output2', 'output3', 'merge1', 'merge2']) names.push(`fpn.${m}`);
  for (const ssh of ['ssh1', 'ssh2', 'ssh3']) {
    names.push(ssh);
    for (const m of ['conv3X3', 'conv5X5_1', 'conv5X5_2', 'conv7X7_2', 'conv7x7_3']) names.push(`${ssh}.${m}`);
  }
  for (const head of ['ClassHead', 'BboxHead', 'LandmarkHead']) {
    for (let i = 0; i < 3; i++) names.push(`${head}.${i}`);
  }
  return names;
}

export interface ReferenceOptions {
  /** compute in float64 (values still come back as float32): to measure PyTorch's own fp32 noise */
  double?: boolean;
  /** also keep every leaf module (conv, bn, activation); a shared module called k times gets name#1.. */
  all?: boolean;
}

/**
 * Every block-level module output of the PyTorch reference on `input` (3, H, W), plus loc, conf,
 * landms, batch dimension dropped. Cached in .cache/reference/<arch>-<H>x<W>-<key16>.safetensors,
 * key = sha256 of the script, the weights file, the input (shape and bytes) and the options;
 * generated when missing, with one line on stderr.
 */
export async function torchReference(
  arch: Arch,
  weights: string,
  input: Tensor,
  opts: ReferenceOptions = {},
): Promise<Map<string, Tensor>> {
  if (input.shape.length !== 3 || input.shape[0] !== 3) {
    throw new Error(`torchReference: input must be (3, H, W), got (${input.shape.join(', ')})`);
  }
  const [, h, w] = input.shape;
  const inputKey = sha256([shapeBytes(input.shape), tensorBytes(input)]);
  const flags = `double=${opts.double === true}; all=${opts.all === true}`;
  const key = sha256([readFileSync(referenceScript), Buffer.from(arch), fileHash(weights), Buffer.from(inputKey), Buffer.from(flags)]);
  const dir = cacheDir('reference');
  const suffix = (opts.double ? '-f64' : '') + (opts.all ? '-all' : '');
  const out = path.join(dir, `${arch}-${h}x${w}${suffix}-${key.slice(0, 16)}.safetensors`);
  if (!existsSync(out)) {
    const started = Date.now();
    const inFile = path.join(dir, `input-${h}x${w}-${inputKey.slice(0, 16)}.safetensors`);
    if (!existsSync(inFile)) await writeTensorFile(inFile, [['input', input]], { layout: 'CHW, BGR minus (104, 117, 123)' });
    const args = ['forward', '--arch', arch, '--weights', weights, '--input', inFile, '--out', out];
    if (opts.double) args.push('--double');
    if (opts.all) args.push('--all');
    runTorchPython(referenceScript, args);
    process.stderr.write(`torch reference: generated ${path.relative(repoRoot, out)} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  return (await readTensorFile(out)).tensors;
}

/**
 * A seeded random RetinaFace checkpoint saved by torch.save in the given serialization (legacy:
 * the pre-1.6 pickle stream, as mobilenet0.25_Final.pth; zip: the torch >= 1.6 archive).
 * `modulePrefix` prefixes every key with 'module.' as DataParallel does (Resnet50_Final.pth).
 * Cached under .cache/checkpoints/ by the hash of the script and the arguments.
 */
export async function randomCheckpoint(
  arch: Arch,
  seed: number,
  serialization: Serialization,
  opts: { modulePrefix?: boolean } = {},
): Promise<string> {
  const prefix = opts.modulePrefix === true;
  const key = sha256([readFileSync(referenceScript), Buffer.from(`${arch}; seed=${seed}; ${serialization}; module=${prefix}`)]);
  const file = path.join(cacheDir('checkpoints'), `${arch}-seed${seed}-${serialization}${prefix ? '-module' : ''}-${key.slice(0, 16)}.pth`);
  if (!existsSync(file)) {
    const started = Date.now();
    const args = ['random-checkpoint', '--arch', arch, '--seed', String(seed), '--out', file, '--serialization', serialization];
    if (prefix) args.push('--module-prefix');
    runTorchPython(referenceScript, args);
    process.stderr.write(`torch reference: generated ${path.relative(repoRoot, file)} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  return file;
}

function sha256(parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    // length-prefixed, so that no two different part lists hash the same bytes
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(p.length));
    h.update(len).update(p);
  }
  return h.digest('hex');
}

function shapeBytes(shape: readonly number[]): Uint8Array {
  return Buffer.from(JSON.stringify(shape));
}

function tensorBytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

// Weights files are hashed once per process and (path, size, mtime): a 100 MB ResNet-50
// checkpoint is read again only when it changed.
const weightHashes = new Map<string, string>();
function fileHash(file: string): Buffer {
  const st = statSync(file);
  const id = `${path.resolve(file)}\0${st.size}\0${st.mtimeMs}`;
  let h = weightHashes.get(id);
  if (h === undefined) {
    h = createHash('sha256').update(readFileSync(file)).digest('hex');
    weightHashes.set(id, h);
  }
  return Buffer.from(h);
}
