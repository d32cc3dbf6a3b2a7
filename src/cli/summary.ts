// `retinaface summary --arch ARCH --size HxW`: every module's output shape and the MACs per
// conv kind at that input size, as markdown (docs/architecture.md quotes it).
import { ARCHS, type Arch } from '../model/config.js';
import { summarize, summaryMarkdown } from '../model/summary.js';
import { stringOption, UsageError, type CommandSpec } from './args.js';

export const summaryCommand: CommandSpec = {
  name: 'summary',
  summary: 'print the network module by module (output shapes, MACs) at an input size',
  positionals: [],
  options: [
    { name: 'arch', value: 'ARCH', choices: ARCHS, help: 'the backbone (default mobile0.25)' },
    { name: 'size', value: 'HxW', help: 'input height x width (default 640x640)' },
  ],
  async run(args, io) {
    const size = stringOption(args, 'size') ?? '640x640';
    const m = /^(\d{1,5})x(\d{1,5})$/.exec(size);
    if (m === null || Number(m[1]) < 1 || Number(m[2]) < 1) throw new UsageError(`--size must be HxW with positive integers, got ${size}`);
    const arch = (stringOption(args, 'arch') ?? 'mobile0.25') as Arch;
    io.out(summaryMarkdown(await summarize(arch, Number(m[1]), Number(m[2]))));
    return 0;
  },
};
