#!/usr/bin/env node
// The `retinaface` command. Each subcommand declares its options and positionals in COMMANDS;
// one small parser (no dependencies) reads them, so adding a subcommand or an option is adding
// an entry. Exit codes: 0 ok, 1 runtime or input error (one line on stderr, no stack),
// 2 usage error (the message plus a pointer to --help).
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RetinaFaceError } from './errors.js';
import { convertCheckpoint, DEFAULT_CONVERT_DIR, defaultConvertOutput } from './weights/convert.js';
import { ARCHS, type Arch } from './model/config.js';
import { parseArgs, stringOption, UsageError, type CommandSpec, type Io, type OptionSpec } from './cli/args.js';
import { detectCommand } from './cli/detect.js';
import { alignCommand } from './cli/align.js';
import { summaryCommand } from './cli/summary.js';
import { evalCommand } from './cli/eval.js';

export type { CommandSpec, Io, OptionSpec, ParsedArgs } from './cli/args.js';
export { parseArgs, UsageError } from './cli/args.js';

const PROGRAM = 'retinaface';

/** Every subcommand, in the order of --help (exported for the argument fuzzer, test/fuzz). */
export const COMMANDS: CommandSpec[] = [
  {
    name: 'convert',
    summary: 'convert a PyTorch checkpoint (.pth) into a retinaface-ts weights file',
    positionals: [
      { name: 'IN', help: 'the .pth checkpoint (legacy or zip serialization; nothing in it is executed)' },
      { name: 'OUT', optional: true, help: `the weights file to write (safetensors-compatible, see docs/weights-format.md; default ${DEFAULT_CONVERT_DIR}/retinaface-ARCH.safetensors)` },
    ],
    options: [
      { name: 'arch', value: 'ARCH', choices: ARCHS, help: 'the architecture, when the keys do not tell it' },
    ],
    async run(args, io) {
      const [input, given] = args.positionals as [string, string | undefined];
      const arch = stringOption(args, 'arch') as Arch | undefined;
      const r = await convertCheckpoint(input, given ?? defaultConvertOutput, arch === undefined ? {} : { arch });
      io.out(`${r.output}: ${r.arch}, ${r.tensors} tensors, from ${input} (sha256 ${r.sha256})`);
      return 0;
    },
  },
  detectCommand,
  alignCommand,
  summaryCommand,
  evalCommand,
];

const GLOBAL_OPTIONS: OptionSpec[] = [
  { name: 'help', help: 'show this help (or a command\'s, after its name)' },
  { name: 'version', help: 'print the version' },
];

/** Runs the CLI on `argv` (without node and the script) and returns the exit code. */
export async function main(argv: string[], io: Io = consoleIo): Promise<number> {
  try {
    const [first, ...rest] = argv;
    if (first === undefined) {
      io.err(globalHelp());
      return 2;
    }
    if (first === '--help' || first === '-h') {
      io.out(globalHelp());
      return 0;
    }
    if (first === '--version' || first === '-V') {
      io.out(version());
      return 0;
    }
    // ailia-style calls have no command word: `retinaface --input photo.jpg` means detect.
    const named = COMMANDS.find((c) => c.name === first);
    if (named === undefined && !first.startsWith('-')) {
      const looksLikeInput = /\.(jpe?g|png)$/i.test(first) || existsSync(first);
      throw new UsageError(`unknown command ${first}${looksLikeInput ? ` (to find the faces in it: ${PROGRAM} --input ${first})` : ''}`);
    }
    const [command, args] = named === undefined ? [detectCommand, argv] : [named, rest];
    if (args.includes('--help') || args.includes('-h')) {
      io.out(commandHelp(command));
      return 0;
    }
    return await command.run(parseArgs(args, command), io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${PROGRAM}: ${e.message} (see ${PROGRAM} --help)`);
      return 2;
    }
    if (e instanceof RetinaFaceError) {
      io.err(`${PROGRAM}: ${oneLine(e.message)}`);
      return 1;
    }
    // A bug, not bad input: still one line, the stack only on request.
    io.err(`${PROGRAM}: internal error: ${oneLine(e instanceof Error ? e.message : String(e))}` +
      (process.env.RETINAFACE_DEBUG ? `\n${(e as Error).stack ?? ''}` : ' (set RETINAFACE_DEBUG=1 for details)'));
    return 1;
  }
}

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `usage: ${PROGRAM} [detect] --input IMAGE... [options]   (faces found and drawn)`,
    `       ${PROGRAM} <command> [options]`,
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'detect options (the default command):',
    ...optionLines(detectCommand.options),
    '',
    'environment:',
    '  RETINAFACE_WEIGHTS_DIR  a folder holding the official .pth checkpoints (see weights/README.md)',
    '  RETINAFACE_CACHE        where converted weights are cached (default ~/.cache/retinaface-ts)',
    '  RETINAFACE_OFFLINE      1 (or true, yes, on): never download the weights',
    '  RETINAFACE_DEBUG        1: internal errors print their stack',
    '',
    `Run '${PROGRAM} <command> --help' for another command's options.`,
  ].join('\n');
}

function commandHelp(c: CommandSpec): string {
  const usage = [PROGRAM, c.name, ...(c.options.length ? ['[options]'] : []), ...c.positionals.map((p) => (p.optional ? `[${p.name}]` : p.name))].join(' ');
  const width = Math.max(...c.positionals.map((p) => p.name.length));
  return [
    `usage: ${usage}`,
    '',
    c.summary,
    '',
    ...c.positionals.map((p) => `  ${p.name.padEnd(width)}  ${p.help}`),
    '',
    'options:',
    ...optionLines([...c.options, GLOBAL_OPTIONS[0]!]),
  ].join('\n');
}

/** One line an option, under the headings of their groups (in order of first appearance), aligned. */
function optionLines(options: OptionSpec[]): string[] {
  const left = (o: OptionSpec) => `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.value ? ` ${o.value}${o.multiple ? '...' : ''}` : ''}`;
  const width = Math.max(...options.map((o) => left(o).length));
  const line = (o: OptionSpec) => `  ${left(o).padEnd(width)}  ${o.help}${o.choices ? ` (${o.choices.join(', ')})` : ''}`;
  const groups = [...new Set(options.map((o) => o.group))];
  return groups.flatMap((g) => [
    ...(g === undefined ? [] : [` ${g}:`]),
    ...options.filter((o) => o.group === g).map(line),
  ]);
}

function version(): string {
  // dist/src/cli.js -> ../../package.json
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `${PROGRAM} ${pkg.version}`;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

/** stdout closed by its reader (`retinaface ... | head -1`): further lines are dropped, the work goes on. */
let stdoutClosed = false;

const consoleIo: Io = {
  out: (line) => {
    if (!stdoutClosed) process.stdout.write(`${line}\n`);
  },
  err: (line) => process.stderr.write(`${line}\n`),
};

// Run when executed directly (also through npm's bin symlink), not when imported by tests.
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/**
 * Runs the CLI as the process's work: the exit code is the run's. A runtime that lets the process
 * end while the run is still pending (nothing left on its event loop: a worker unreferenced too
 * early, a lost callback) would exit 0 having done nothing; the 'exit' guard turns that into one
 * line and exit code 1.
 */
export function runAsProcess(run: () => Promise<number>): void {
  let settled = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stdoutClosed = true;
  });
  process.on('exit', () => {
    if (settled) return;
    process.stderr.write(`${PROGRAM}: internal error: the process is ending before its work was done (nothing left to wait on); nothing was completed\n`);
    process.exitCode = 1;
  });
  run().then((code) => {
    settled = true;
    process.exitCode = code;
  }, (e: unknown) => {
    settled = true;
    process.stderr.write(`${PROGRAM}: internal error: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
    process.exitCode = 1;
  });
}

if (isEntryPoint()) runAsProcess(() => main(process.argv.slice(2)));
