// `npm run demo`: builds the bundle, the demo's assets and the pages beside it (build.ts), then
// serves them on 127.0.0.1 with the headers that let cpu-simd use threads, until Ctrl-C:
// /demo/ (also at /), /explore/ (the architecture explorer), /kernels/ (the kernel benchmark).
//
//   npm run demo -- [--port 8642] [--images DIR] [--build-only]
//
// --images: the sample photos offered by the page (default ../shared/images). --build-only: stop
// after the build (then serve docs/ with any static file server: docs/demo/, docs/explore/ and
// docs/kernels/ are static files).
import { RetinaFaceError } from '../../src/errors.js';
import * as path from 'node:path';
import { buildDemo, bundleSummary, demoDir, PAGES } from './build.js';
import { serveStatic } from './static_server.js';

const DEFAULT_PORT = 8642;

function usage(message: string): never {
  console.error(`demo: ${message}\nusage: npm run demo -- [--port N] [--images DIR] [--build-only]`);
  process.exit(2);
}

function parseArgs(argv: string[]): { port: number; imagesDir?: string; buildOnly: boolean } {
  let port = DEFAULT_PORT;
  let imagesDir: string | undefined;
  let buildOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--build-only') buildOnly = true;
    else if (a === '--port' || a === '--images') {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      if (a === '--port') {
        port = Number(v);
        if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port ${v} is not a port number (0-65535)`);
      } else {
        imagesDir = path.resolve(v);
      }
    } else usage(`unknown argument ${a}`);
  }
  return { port, ...(imagesDir === undefined ? {} : { imagesDir }), buildOnly };
}

const args = parseArgs(process.argv.slice(2));
try {
  const { bundle, assets } = await buildDemo(args.imagesDir === undefined ? {} : { imagesDir: args.imagesDir });
  console.log(`bundle (dist/browser/, copied to docs/demo/lib/):\n${bundleSummary(bundle)}`);
  for (const w of assets.weights) console.log(`weights ${w.arch}: ${w.url}, ${(w.bytes / 1e6).toFixed(2)} MB (gzip ${(w.gzip / 1e6).toFixed(2)} MB)`);
  for (const [arch, why] of Object.entries(assets.missing)) console.log(`weights ${arch}: none (${why})`);
  console.log(`samples: ${assets.samples.length === 0 ? 'none (--images DIR)' : assets.samples.join(', ')}`);
  if (args.buildOnly) process.exit(0);
  const server = await serveStatic(path.dirname(demoDir), { allowed: ['demo/', ...PAGES.map((p) => `${p}/`)], port: args.port, home: '/demo/' });
  console.log(`demo: ${server.url}/demo/\nexplorer: ${server.url}/explore/\nkernel benchmark: ${server.url}/kernels/\n(Ctrl-C stops)`);
  process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
} catch (e) {
  if (e instanceof RetinaFaceError) {
    console.error(`demo: ${e.message}`);
    process.exit(1);
  }
  if ((e as { code?: string }).code === 'EADDRINUSE') {
    console.error(`demo: port ${args.port} is in use (--port N picks another)`);
    process.exit(1);
  }
  throw e;
}
