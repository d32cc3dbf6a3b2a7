// One end-to-end contestant in its own process (forked by bench/e2e.ts): our network on one
// backend of the registry, or onnxruntime-node / onnxruntime-web on the exported ONNX model.
// It checks its outputs on the check input before the parent times anything.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { BACKENDS, optionalModule, Unavailable } from './backends.js';
import type { Backend } from '../src/backend.js';
import { isArch } from '../src/model/config.js';
import { buildRetinaFace, type RetinaFace } from '../src/model/retinaface.js';
import { keptOutputArrays, runNetwork, runUploaded, uploadInput } from '../src/model/run.js';
import type { Tensor } from '../src/tensor.js';
import { readTensorFile } from '../src/weights/files.js';
import { CHECK_REPEAT_MS, type InitReply, type InitRequest, type Reply, type Request, type RunReply, type RunRequest } from './protocol.js';
import { peakRssMB } from './peak_rss.js';
import { compareTensors } from '../src/harness/compare.js';
import { recordCheck, type Check } from './results.js';
import { runOnnxNode, openOnnxNode } from './peers/onnx_node.js';
import { openOnnxWeb, runOnnxWeb } from './peers/onnx_web.js';
import type { OnnxRunner } from './peers/onnx_node.js';

type Outputs = { loc: Tensor; conf: Tensor; landms: Tensor };

interface Runner {
  forward(x: Tensor): Promise<Outputs>;
  decode?: (bytes: Uint8Array, file: string) => unknown;
  preprocess?: (img: unknown) => Tensor;
  /**
   * Ours, as the Detector's detect() does it: preprocess written straight into the backend
   * (uploadInput), then the pass on it, its outputs read into arrays kept from run to run (runUploaded's `into`).
   */
  preprocessUpload?: (img: unknown) => unknown;
  forwardUploaded?: (x: unknown) => Promise<Outputs>;
  postprocess?: (o: Outputs, size: { height: number; width: number }) => unknown;
  liveObjects?: () => number | undefined;
}

export function readRawInput(file: string, height: number, width: number): Tensor {
  const bytes = readFileSync(file);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (data.length !== 3 * height * width) throw new Error(`${file}: ${data.length} values, expected 3 x ${height} x ${width}`);
  return { shape: [3, height, width], data };
}

export function checkOutputs(name: string, got: Outputs, expected: Map<string, Tensor>, tol: { abs: number; rel: number }): Check {
  const checks = (['loc', 'conf', 'landms'] as const).map((k) => compareTensors(`${name} ${k}`, got[k], expected.get(k)!, tol));
  const bad = checks.find((c) => !c.ok);
  return bad !== undefined ? recordCheck(bad) : { ok: true, compared: 'loc, conf, landms on the check input', maxAbsError: Math.max(...checks.map((c) => c.maxAbsError)) };
}

async function openOurs(backendName: string, arch: string, weights: string): Promise<{ runner: Runner; missing?: string }> {
  const entry = BACKENDS.find((e) => e.name === backendName);
  if (entry === undefined) throw new Unavailable(`no backend named ${backendName} in bench/backends.ts`);
  if (!isArch(arch)) throw new Error(`unknown arch ${arch}`);
  const be: Backend<unknown> = await entry.create();
  const model: RetinaFace = buildRetinaFace(arch, (await readTensorFile(weights)).tensors, weights);
  await be.prepare(model);
  const runner: Runner = { forward: async (x) => runNetwork(be, model, x), liveObjects: () => entry.liveObjects?.(be) };
  const missing: string[] = [];
  try {
    const dec = (await optionalModule('image/decode')).decodeImage as (b: Uint8Array, f: string) => unknown;
    const preprocess = await optionalModule('image/preprocess');
    const pre = preprocess.toNetworkInput as (img: unknown) => Tensor;
    if (typeof dec === 'function' && typeof pre === 'function') { runner.decode = dec; runner.preprocess = pre; }
    else missing.push('decode, preprocess: src/image exports no decodeImage / toNetworkInput');
    const into = preprocess.toNetworkInputInto as ((img: unknown, dst: Float32Array) => void) | undefined;
    if (typeof into === 'function') {
      runner.preprocessUpload = (img) => {
        const { width, height } = img as { width: number; height: number };
        return uploadInput(be, { shape: [3, height, width], write: (dst) => into(img, dst) });
      };
      const kept = keptOutputArrays();
      runner.forwardUploaded = (x) => runUploaded(be, model, x, undefined, kept.into);
    }
  } catch (e) {
    missing.push(`decode, preprocess: ${(e as Error).message}`);
  }
  try {
    const post = (await optionalModule('detect/postprocess')).postprocess as (l: Tensor, c: Tensor, m: Tensor, s: { height: number; width: number }) => unknown;
    if (typeof post === 'function') runner.postprocess = (o, size) => post(o.loc, o.conf, o.landms, size);
    else missing.push('postprocess: src/detect/postprocess exports no postprocess');
  } catch (e) {
    missing.push(`postprocess: ${(e as Error).message}`);
  }
  return missing.length > 0 ? { runner, missing: missing.join('; ') } : { runner };
}

let runner: Runner | undefined;

async function init(req: InitRequest): Promise<InitReply> {
  const spec = req.spec;
  let missing: string | undefined;
  try {
    if (spec.kind === 'ours') ({ runner, missing } = await openOurs(spec.backend, req.arch, req.weights));
    else if (spec.kind === 'onnx-node' || spec.kind === 'onnx-web') {
      const r: OnnxRunner = spec.kind === 'onnx-node' ? await openOnnxNode(spec.model, spec.threads) : await openOnnxWeb(spec.model, spec.threads);
      runner = { forward: (x) => (spec.kind === 'onnx-node' ? runOnnxNode : runOnnxWeb)(r, x) };
      missing = 'decode, preprocess, postprocess: a peer runs the network only';
    } else throw new Error(`e2e_worker cannot run ${spec.kind}`);
  } catch (e) {
    return { type: 'init', skipped: e instanceof Unavailable ? e.message : `failed to start: ${(e as Error).message.split('\n')[0]}` };
  }
  const expected = (await readTensorFile(req.check)).tensors;
  const input = expected.get('input')!;
  let t0 = performance.now();
  const got = await runner.forward(input);
  let checkForwardMs = performance.now() - t0;
  const check = checkOutputs(spec.kind === 'ours' ? spec.backend : spec.kind, got, expected, req.tolerance);
  if (check.ok && checkForwardMs < CHECK_REPEAT_MS) {
    t0 = performance.now();
    await runner.forward(input);
    checkForwardMs = performance.now() - t0;
  }
  return { type: 'init', check, checkForwardMs, ...(missing !== undefined ? { missingStages: missing } : {}) };
}

async function run(req: RunRequest): Promise<RunReply> {
  const r = runner!;
  const ms: RunReply['ms'] = {};
  let x: Tensor;
  if (req.jpeg !== undefined && r.decode !== undefined && r.preprocess !== undefined) {
    const bytes = readFileSync(req.jpeg);
    let t0 = performance.now();
    const img = r.decode(bytes, req.jpeg);
    ms.decode = performance.now() - t0;
    t0 = performance.now();
    if (r.preprocessUpload !== undefined && r.forwardUploaded !== undefined) {
      const h = r.preprocessUpload(img);
      ms.preprocess = performance.now() - t0;
      t0 = performance.now();
      const out = await r.forwardUploaded(h);
      ms.forward = performance.now() - t0;
      const again = r.preprocessUpload(img);
      t0 = performance.now();
      await r.forwardUploaded(again); // into out's arrays again: the same input, the same values
      ms.forwardAgain = performance.now() - t0;
      return postprocessed(r, out, req, ms);
    }
    x = r.preprocess(img);
    ms.preprocess = performance.now() - t0;
  } else x = readRawInput(req.input, req.height, req.width);
  let t0 = performance.now();
  const out = await r.forward(x);
  ms.forward = performance.now() - t0;
  t0 = performance.now();
  await r.forward(x);
  ms.forwardAgain = performance.now() - t0;
  return postprocessed(r, out, req, ms);
}

function postprocessed(r: Runner, out: Outputs, req: RunRequest, ms: RunReply['ms']): RunReply {
  if (r.postprocess !== undefined) {
    const t0 = performance.now();
    r.postprocess(out, { height: req.height, width: req.width });
    ms.postprocess = performance.now() - t0;
  }
  return { type: 'run', ms };
}

async function handle(msg: Request): Promise<Reply> {
  switch (msg.type) {
    case 'init': return init(msg);
    case 'run':
      try { return await run(msg); } catch (e) { return { type: 'run', ms: {}, error: (e as Error).message.split('\n')[0]! }; }
    case 'stop': {
      const live = runner?.liveObjects?.();
      return live !== undefined ? { type: 'stop', peakRssMB: peakRssMB(), liveObjects: live } : { type: 'stop', peakRssMB: peakRssMB() };
    }
  }
}

if (process.send !== undefined) {
  process.on('message', (msg: Request) => {
    void handle(msg).then((reply) => {
      // After 'stop' the process exits: a backend holding a browser or worker threads would keep it alive.
      process.send!(reply, () => { if (msg.type === 'stop') process.exit(0); });
    });
  });
}
