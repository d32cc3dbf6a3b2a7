// retinaface-ts on Node (20, 22, 24, 26): `node main.mjs photo.jpg` (in your app: import from 'retinaface-ts').
// The default backend is cpu-simd (WebAssembly SIMD, worker_threads); the weights resolve
// themselves (RETINAFACE_WEIGHTS_DIR, the cache, or the official download).
import { RetinaFace } from '../../dist/src/index.js';

const detector = await RetinaFace.load();
const faces = await detector.detect(process.argv[2] ?? 'photo.jpg');
console.log(`${faces.length} faces on ${detector.backendName}`);
for (const f of faces) console.log(f.score.toFixed(3), f.box.map((v) => v.toFixed(1)).join(' '));
