// Detection off the main thread: the detector lives in a module Web Worker (loadWorkerDetector),
// the page hands it ImageBitmaps and draws the faces it sends back. The clock next to the file
// picker advances every animation frame, and keeps advancing while the worker detects.
//
// This folder, served over http(s), needs beside it (see README.md):
//   lib/      the library's browser bundle (node_modules/retinaface-ts/dist/browser/)
//   weights/  retinaface-mobile0.25.safetensors (`npx retinaface convert`)
// ?image=URL detects that image at load; ?weights=URL other weights.
import { loadWorkerDetector } from './lib/retinaface.js';

const out = document.getElementById('out');
const canvas = document.getElementById('canvas');
const clock = document.getElementById('clock');
const params = new URLSearchParams(location.search);

let ticks = 0;
const tick = () => { clock.textContent = String(++ticks); requestAnimationFrame(tick); };
requestAnimationFrame(tick);

const detector = await loadWorkerDetector(params.get('weights') ?? 'weights/retinaface-mobile0.25.safetensors', {
  onProgress: ({ loaded, total }) => { out.textContent = `weights: ${loaded} of ${total ?? '?'} bytes`; },
});
const threads = detector.threads > 0 ? `, ${detector.threads} thread${detector.threads === 1 ? '' : 's'}` : '';
const ran = `${detector.backendName}${threads}, in a Web Worker`;
out.textContent = `ready: ${ran}`;

async function show(blob, name) {
  const forDrawing = await createImageBitmap(blob);
  canvas.width = forDrawing.width;
  canvas.height = forDrawing.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(forDrawing, 0, 0);
  const ticksBefore = ticks;
  // This bitmap is handed over to the worker (and closed there); the page keeps its own copy.
  const { faces, timings } = await detector.detectDetailed(await createImageBitmap(blob));
  ctx.lineWidth = Math.max(2, canvas.width / 400);
  ctx.strokeStyle = '#ff0000';
  for (const f of faces) ctx.strokeRect(f.box[0], f.box[1], f.box[2] - f.box[0], f.box[3] - f.box[1]);
  out.textContent = `${name}: ${faces.length} faces in ${timings.total.toFixed(0)} ms on ${ran} ` +
    `(the page drew ${ticks - ticksBefore} frames meanwhile)\n` +
    faces.map((f) => `${f.score.toFixed(3)} [${f.box.map((v) => v.toFixed(0)).join(', ')}]`).join('\n');
}

const fail = (e) => { out.textContent = `error: ${e.message}`; };
document.getElementById('file').addEventListener('change', (e) => {
  const file = e.target.files[0];
  if (file !== undefined) show(file, file.name).catch(fail);
});
const image = params.get('image');
if (image !== null) {
  fetch(image).then((r) => (r.ok ? r.blob() : Promise.reject(new Error(`${image}: HTTP ${r.status}`)))).then((b) => show(b, image)).catch(fail);
}
