// The onnxruntime-node side of bench/rss.ts: decode IMAGE (src/image, the CLI's own decoder),
// convert it to the network input, run the exported ONNX model once on THREADS threads, exit.
//   node --import ./dist/bench/peak_rss_hook.js dist/bench/rss_peer.js IMAGE MODEL THREADS
import { readFileSync } from 'node:fs';
import { decodeImage } from '../src/image/decode.js';
import { toNetworkInput } from '../src/image/preprocess.js';
import { openOnnxNode, runOnnxNode } from './peers/onnx_node.js';

const [image, model, threads] = process.argv.slice(2) as [string, string, string];
const runner = await openOnnxNode(model, Number(threads));
const x = toNetworkInput(decodeImage(readFileSync(image), image));
const out = await runOnnxNode(runner, x);
console.log(`${image}: onnxruntime-node ${threads} thread(s), ${out.conf.shape[0]} anchors`);
