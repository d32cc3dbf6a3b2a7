// retinaface-ts in a Cloudflare Worker: POST /detect with JPEG or PNG bytes, get the faces.
//
//   curl --data-binary @photo.jpg 'http://127.0.0.1:8787/detect?vis_thres=0.6'
//   -> { "backend": "cpu-simd", "why": "...", "faces": [{ "score", "box": [x1, y1, x2, y2], "landmarks" }], "timings" }
//
// Workers forbid compiling WebAssembly from bytes, so cpu-simd's kernel module comes precompiled
// (dist/wasm/retinaface-simd.wasm from the package, imported here as a CompiledWasm module), and
// the weights are bundled as a Data module (an ArrayBuffer). Workers have no worker threads: one
// thread. The detector is loaded once per isolate and reused by every request.
import { loadDetector, RetinaFaceError, type RetinaFaceDetector } from 'retinaface-ts/browser';
import weights from './retinaface-mobile0.25.bin';
import simd from './retinaface-simd.wasm';

let detector: Promise<RetinaFaceDetector> | null = null;

const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== '/detect' || request.method !== 'POST') {
      return json({ error: 'POST /detect with the bytes of a JPEG or PNG image (query: vis_thres, arch)' }, 404);
    }
    const arch = url.searchParams.get('arch') ?? 'mobile0.25';
    if (arch !== 'mobile0.25') return json({ error: `arch ${arch} is not bundled: this Worker carries mobile0.25 (resnet50's 105 MB exceeds a Worker's size limit)` }, 400);
    const visThreshold = Number(url.searchParams.get('vis_thres') ?? '0.6');
    try {
      detector ??= loadDetector(new Uint8Array(weights), { simdModules: { plain: simd }, threads: 1, arch: 'mobile0.25' });
      const d = await detector;
      const r = await d.detectDetailed(new Uint8Array(await request.arrayBuffer()), { visThreshold, raw: false }, 'request body');
      return json({
        backend: d.backendName,
        why: d.backendWhy,
        width: r.width,
        height: r.height,
        faces: r.faces.map((f) => ({ score: f.score, box: f.box, landmarks: f.landmarks })),
        timings: r.timings,
      });
    } catch (e) {
      // bad input (not an image, a bad option): one line, status 400; anything else is ours: 500
      if (e instanceof RetinaFaceError) return json({ error: e.message, code: e.code }, 400);
      return json({ error: `internal error: ${(e as Error).message}` }, 500);
    }
  },
};
