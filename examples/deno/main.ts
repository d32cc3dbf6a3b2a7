// retinaface-ts on Deno: `deno run -A main.ts photo.jpg` (in your app: import from 'npm:retinaface-ts').
// The default backend is cpu-simd (WebAssembly SIMD, Deno's workers for threads); the weights
// resolve as in Node (RETINAFACE_WEIGHTS_DIR, the cache, or the official download).
import { RetinaFace } from '../../dist/src/index.js';

const detector = await RetinaFace.load();
const faces = await detector.detect(Deno.args[0] ?? 'photo.jpg');
console.log(`${faces.length} faces on ${detector.backendName}`);
for (const f of faces) console.log(f.score.toFixed(3), f.box.map((v) => v.toFixed(1)).join(' '));
