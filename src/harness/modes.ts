// Which gpu.js modes the tests run where, and which of them must run. Node runs cpu, webasm and
// headlessgl; Chromium (test/browser) runs webgl2, webgpu and webgl. A mode that cannot run here is
// reported in the test output with the reason; a mode that CI requires (always cpu and webasm;
// headlessgl, webgl2 and webgpu when CI is set, or the list in RETINAFACE_REQUIRE_MODES) fails
// loudly instead. Pure: runs in Node and in the browser pages.
import type { GpuJsMode } from '../backends/gpujs_modes.js';

export const NODE_MODES: readonly GpuJsMode[] = ['cpu', 'webasm', 'headlessgl'];
export const BROWSER_MODES: readonly GpuJsMode[] = ['webgl2', 'webgpu', 'webgl'];

export function requiredModes(): Set<string> {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
  const list = env.RETINAFACE_REQUIRE_MODES;
  if (list !== undefined) return new Set(list.split(',').map((s) => s.trim()).filter((s) => s !== ''));
  return new Set(env.CI ? ['cpu', 'webasm', 'headlessgl', 'webgl2', 'webgpu'] : ['cpu', 'webasm']);
}
