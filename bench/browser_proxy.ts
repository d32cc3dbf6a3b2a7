// A Node-side Backend that runs on gpu.js's webgl2 or webgpu mode in headless Chromium
// (SwiftShader), so that the kernel suites and the end-to-end runs time the browser modes with
// the same code as every other backend. Ops are queued as commands on integer handles (their
// shapes tracked here by the ShapeBackend, since Backend.shape() is synchronous) and sent to the
// page (bench/browser/proxy_page.ts) in one evaluate per read(), which runs them on a
// GpuJsBackend and returns the tensor. A timed call therefore includes one page round trip and
// the base64 transfer of the read tensor (and of an input uploaded in the same call), not measured
// apart: SwiftShader's own times (tens of ms to seconds per kernel) dominate.
import type { Backend } from '../src/backend.js';
import { ShapeBackend } from '../src/model/shape_backend.js';
import { convUnits, type ConvBnAct, type Module } from '../src/model/modules.js';
import type { Slope } from '../src/ops/activation.js';
import type { Tensor } from '../src/tensor.js';
import { ChromiumUnavailable, openHarnessPage, type HarnessPage } from '../src/harness/chromium.js';
import { Unavailable } from './backends.js';
import type { ProxyCommand, ProxyConv } from './browser_proxy_protocol.js';
import { repoRoot } from './peers/torch.js';

type PageProxy = {
  probe(mode: string): Promise<{ ok: boolean; reason: string }>;
  open(mode: string): Promise<string>;
  addConv(c: ProxyConv): number;
  prepare(): Promise<void>;
  reset(): void;
  run(cmds: ProxyCommand[], read: number | null): Promise<{ shape?: number[]; b64?: string; live: number }>;
  dispose(): void;
};

const b64 = (x: Float32Array): string => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
function fromB64(s: string): Float32Array {
  const buf = Buffer.from(s, 'base64');
  const out = new Float32Array(buf.byteLength / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

export class BrowserProxyBackend implements Backend<number> {
  readonly name: string;
  /** live: the page backend's live textures/buffers after the last read (bench/backends.ts reads it). */
  readonly stats = { live: 0 };
  private readonly shapes = new Map<number, number[]>();
  private readonly tracer = new ShapeBackend();
  private readonly convIds = new Map<ConvBnAct, number>();
  private queue: ProxyCommand[] = [];
  private next = 1;
  private closed = false;

  private constructor(readonly mode: 'webgl2' | 'webgpu', private readonly harness: HarnessPage, pageName: string) {
    this.name = `chromium-${pageName}`;
  }

  static async create(mode: 'webgl2' | 'webgpu'): Promise<BrowserProxyBackend> {
    let h: HarnessPage;
    try {
      h = await openHarnessPage(repoRoot, 'bench/browser/index.html', 'proxy', ['bench/browser/']);
    } catch (e) {
      if (e instanceof ChromiumUnavailable) throw new Unavailable(e.message);
      throw e;
    }
    // (Functions given to evaluate() run in the page: they can name only the page's globals.)
    try {
      const a = await h.page.evaluate((m) => (globalThis as unknown as { proxy: PageProxy }).proxy.probe(m), mode);
      if (!a.ok) throw new Unavailable(`gpu.js ${mode} does not run in this Chromium: ${a.reason}`);
      return new BrowserProxyBackend(mode, h, await h.page.evaluate((m) => (globalThis as unknown as { proxy: PageProxy }).proxy.open(m), mode));
    } catch (e) {
      await h.close();
      throw e;
    }
  }

  async prepare(model: Module): Promise<void> {
    await this.flush(null);
    await this.harness.page.evaluate(() => (globalThis as unknown as { proxy: PageProxy }).proxy.reset(), null);
    this.convIds.clear();
    for (const unit of convUnits(model)) {
      const { conv, bn, slope } = unit;
      const spec: ProxyConv = {
        path: conv.path, cIn: conv.in_channels, cOut: conv.out_channels, kernel: conv.kernel_size, stride: conv.stride,
        padding: conv.padding, groups: conv.groups, weight: b64(conv.weight.data), bias: conv.bias === null ? null : b64(conv.bias.data),
        bn: bn === null ? null : { weight: b64(bn.weight.data), bias: b64(bn.bias.data), mean: b64(bn.running_mean.data), var: b64(bn.running_var.data) },
        slope,
      };
      this.convIds.set(unit, await this.harness.page.evaluate((c) => (globalThis as unknown as { proxy: PageProxy }).proxy.addConv(c), spec));
    }
    await this.harness.page.evaluate(() => (globalThis as unknown as { proxy: PageProxy }).proxy.prepare(), null);
  }

  private handle(shape: readonly number[]): number {
    const id = this.next++;
    this.shapes.set(id, [...shape]);
    this.tracer.ops.length = 0; // only its shape arithmetic is used
    return id;
  }

  private shapeOf(x: number): number[] {
    const s = this.shapes.get(x);
    if (s === undefined) throw new Error(`${this.name}: tensor ${x} was released or never made`);
    return s;
  }

  upload(x: Tensor): number {
    const id = this.handle(x.shape);
    this.queue.push({ t: 'upload', id, shape: [...x.shape], b64: b64(x.data) });
    return id;
  }

  async read(x: number): Promise<Tensor> {
    const r = await this.flush(x);
    return { shape: r.shape!, data: fromB64(r.b64!) };
  }

  private async flush(read: number | null): Promise<{ shape?: number[]; b64?: string; live: number }> {
    const cmds = this.queue;
    this.queue = [];
    const r = await this.harness.page.evaluate(([c, x]) => (globalThis as unknown as { proxy: PageProxy }).proxy.run(c, x), [cmds, read] as [ProxyCommand[], number | null]);
    this.stats.live = r.live;
    return r;
  }

  shape(x: number): readonly number[] {
    return this.shapeOf(x);
  }

  release(x: number): void {
    this.shapeOf(x);
    this.shapes.delete(x);
    this.queue.push({ t: 'release', x });
  }

  convBnAct(x: number, layer: ConvBnAct): number {
    const conv = this.convIds.get(layer);
    if (conv === undefined) throw new Error(`${this.name}: ${layer.path} was not prepared`);
    const id = this.handle(this.tracer.convBnAct(this.shapeOf(x), layer));
    this.queue.push({ t: 'conv', id, x, conv });
    return id;
  }

  add(a: number, b: number, slope: Slope): number {
    const id = this.handle(this.tracer.add(this.shapeOf(a), this.shapeOf(b), slope));
    this.queue.push({ t: 'add', id, a, b, slope });
    return id;
  }

  interpolateNearest(x: number, h: number, w: number): number {
    const id = this.handle(this.tracer.interpolateNearest(this.shapeOf(x), h, w));
    this.queue.push({ t: 'interp', id, x, h, w });
    return id;
  }

  cat(xs: number[], slope: Slope): number {
    const id = this.handle(this.tracer.cat(xs.map((x) => this.shapeOf(x)), slope));
    this.queue.push({ t: 'cat', id, xs: [...xs], slope });
    return id;
  }

  maxPool2d(x: number, kernel: number, stride: number, padding: number): number {
    const id = this.handle(this.tracer.maxPool2d(this.shapeOf(x), kernel, stride, padding));
    this.queue.push({ t: 'pool', id, x, k: kernel, s: stride, p: padding });
    return id;
  }

  headPermute(x: number, k: number): number {
    const id = this.handle(this.tracer.headPermute(this.shapeOf(x), k));
    this.queue.push({ t: 'head', id, x, k });
    return id;
  }

  catRows(xs: number[]): number {
    const id = this.handle(this.tracer.catRows(xs.map((x) => this.shapeOf(x))));
    this.queue.push({ t: 'rows', id, xs: [...xs] });
    return id;
  }

  softmax(x: number): number {
    const id = this.handle(this.tracer.softmax(this.shapeOf(x)));
    this.queue.push({ t: 'softmax', id, x });
    return id;
  }

  /** Frees the page's backend and closes Chromium (asynchronously: Backend.dispose() is synchronous). */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    void this.harness.page.evaluate(() => (globalThis as unknown as { proxy: PageProxy }).proxy.dispose(), null).catch(() => undefined).finally(() => this.harness.close().catch(() => undefined));
  }
}

export const createBrowserBackend = (mode: 'webgl2' | 'webgpu'): Promise<BrowserProxyBackend> => BrowserProxyBackend.create(mode);
