// Loaded with `node --import` into a measured process (bench/rss.ts): at exit, writes the
// process's peak resident set (VmHWM, which starts afresh at exec, unlike getrusage's maxRSS)
// in MB to the file named by RETINAFACE_PEAK_RSS_FILE.
import { writeFileSync } from 'node:fs';
import { peakRssMB } from './peak_rss.js';

const out = process.env.RETINAFACE_PEAK_RSS_FILE;
if (out !== undefined && out !== '') process.on('exit', () => writeFileSync(out, `${peakRssMB()}\n`));
