// Live device objects of a page: WebGL textures and WebGPU buffers, counted by wrapping their
// creation and deletion calls, so that leak checks see what the browser really holds, not only a
// backend's own bookkeeping. Self-contained (no imports, no outer variables): playwright's
// addInitScript serializes it into a page before the page's own scripts run (test/demo.test.ts),
// and the harness page calls it directly (test/browser/page.ts).

export interface DeviceObjects {
  textures: number;
  buffers: number;
}

/** Installs globalThis.__deviceObjects(): the live counts. Idempotent. */
export function installDeviceObjectCounters(): void {
  type Fn = (...a: unknown[]) => unknown;
  const g = globalThis as unknown as Record<string, { prototype: Record<string, Fn> } | undefined> & { __deviceObjects?: () => DeviceObjects };
  if (g.__deviceObjects !== undefined) return;
  // Sets: gpu.js may delete a texture twice (Texture.delete(), then Kernel.destroy()); it counts gone once.
  const textures = new Set<unknown>();
  const buffers = new Set<unknown>();
  g.__deviceObjects = () => ({ textures: textures.size, buffers: buffers.size });
  for (const ctx of [g.WebGLRenderingContext, g.WebGL2RenderingContext]) {
    if (ctx === undefined) continue;
    const p = ctx.prototype;
    const create = p.createTexture!, remove = p.deleteTexture!;
    p.createTexture = function (this: unknown, ...a: unknown[]) { const t = create.apply(this, a); if (t) textures.add(t); return t; };
    p.deleteTexture = function (this: unknown, ...a: unknown[]) { if (a[0]) textures.delete(a[0]); return remove.apply(this, a); };
  }
  if (g.GPUDevice !== undefined && g.GPUBuffer !== undefined) {
    // created on the device, destroyed on the buffer itself
    const create = g.GPUDevice.prototype.createBuffer!, destroy = g.GPUBuffer.prototype.destroy!;
    g.GPUDevice.prototype.createBuffer = function (this: unknown, ...a: unknown[]) { const b = create.apply(this, a); buffers.add(b); return b; };
    g.GPUBuffer.prototype.destroy = function (this: unknown, ...a: unknown[]) { buffers.delete(this); return destroy.apply(this, a); };
  }
}

/** The counts, in a page where installDeviceObjectCounters() ran. */
export function deviceObjects(): DeviceObjects {
  const f = (globalThis as { __deviceObjects?: () => DeviceObjects }).__deviceObjects;
  if (f === undefined) throw new Error('installDeviceObjectCounters() has not run in this page');
  return f();
}
