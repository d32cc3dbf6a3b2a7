// The Chromium side of bench/browser_proxy.ts: a GpuJsBackend in a gpu.js browser mode (webgl2,
// webgpu) that runs the commands the Node-side proxy queued, in order, and reads one tensor back.
// Tensors cross the page boundary as base64 (playwright's evaluate carries JSON).
import type { Tensor } from '../../src/tensor.js';
import { GpuJsBackend, type GpuTensor } from '../../src/backends/gpujs.js';
import { probeMode, type GpuJsMode } from '../../src/backends/gpu_instance.js';
import { BatchNorm2d, Conv2d, ConvBnAct, Module } from '../../src/model/modules.js';
import type { ProxyCommand, ProxyConv } from '../browser_proxy_protocol.js';

function fromBase64(b64: string): Float32Array {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

function toBase64(x: Float32Array): string {
  const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** The model's conv units, rebuilt here: a module holding them is what GpuJsBackend.prepare lowers. */
class Root extends Module {
  readonly units: ConvBnAct[] = [];
}

let be: GpuJsBackend | null = null;
let root = new Root();
const handles = new Map<number, GpuTensor>();

function need(id: number): GpuTensor {
  const t = handles.get(id);
  if (t === undefined) throw new Error(`proxy page: no tensor ${id}`);
  return t;
}

function layer(i: number): ConvBnAct {
  const u = root.units[i];
  if (u === undefined) throw new Error(`proxy page: no convolution ${i}`);
  return u;
}

function exec(b: GpuJsBackend, c: ProxyCommand): void {
  switch (c.t) {
    case 'upload': handles.set(c.id, b.upload({ shape: c.shape, data: fromBase64(c.b64) })); return;
    case 'release': b.release(need(c.x)); handles.delete(c.x); return;
    case 'conv': handles.set(c.id, b.convBnAct(need(c.x), layer(c.conv))); return;
    case 'add': handles.set(c.id, b.add(need(c.a), need(c.b), c.slope)); return;
    case 'interp': handles.set(c.id, b.interpolateNearest(need(c.x), c.h, c.w)); return;
    case 'cat': handles.set(c.id, b.cat(c.xs.map(need), c.slope)); return;
    case 'pool': handles.set(c.id, b.maxPool2d(need(c.x), c.k, c.s, c.p)); return;
    case 'head': handles.set(c.id, b.headPermute(need(c.x), c.k)); return;
    case 'rows': handles.set(c.id, b.catRows(c.xs.map(need))); return;
    case 'softmax': handles.set(c.id, b.softmax(need(c.x))); return;
  }
}

const proxy = {
  probe: (mode: GpuJsMode) => probeMode(mode),
  async open(mode: GpuJsMode): Promise<string> {
    be = await GpuJsBackend.create(mode);
    return be.name;
  },
  /** Registers one convolution (and its batch norm) of the model about to be prepared. */
  addConv(c: ProxyConv): number {
    const conv = new Conv2d(c.cIn, c.cOut, c.kernel, c.stride, c.padding, c.groups, c.bias !== null);
    conv.path = c.path;
    conv.weight.data = fromBase64(c.weight);
    if (c.bias !== null) conv.bias!.data = fromBase64(c.bias);
    let bn: BatchNorm2d | null = null;
    if (c.bn !== null) {
      bn = new BatchNorm2d(c.cOut);
      bn.weight.data = fromBase64(c.bn.weight);
      bn.bias.data = fromBase64(c.bn.bias);
      bn.running_mean.data = fromBase64(c.bn.mean);
      bn.running_var.data = fromBase64(c.bn.var);
    }
    const unit = new ConvBnAct(conv, bn, c.slope);
    root.units.push(unit);
    return root.units.length - 1;
  },
  async prepare(): Promise<void> {
    await be!.prepare(root);
  },
  /** Starts the next model: the registered convolutions are dropped (prepare() frees the old weights). */
  reset(): void {
    root = new Root();
  },
  /** Runs the queued commands in order, then reads `read` back (null: nothing). */
  async run(cmds: ProxyCommand[], read: number | null): Promise<{ shape: number[]; b64: string; live: number } | { live: number }> {
    const b = be!;
    for (const c of cmds) exec(b, c);
    if (read === null) return { live: b.stats.live };
    const t: Tensor = await b.read(need(read));
    return { shape: [...t.shape], b64: toBase64(t.data), live: b.stats.live };
  },
  dispose(): void {
    be?.dispose();
    be = null;
    handles.clear();
  },
};

(globalThis as unknown as { proxy: typeof proxy }).proxy = proxy;
document.getElementById('log')!.textContent = 'ready';
