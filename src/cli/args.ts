// The CLI's argument parser (no dependencies): each command declares its options and
// positionals; the parser checks names, values, choices and counts, and throws UsageError.
export interface OptionSpec {
  name: string;
  /** a one-letter alias, e.g. 'i' for -i (ailia's short options) */
  short?: string;
  /** may take several values (`--input a.jpg b.jpg`, or repeated); parsed as string[] */
  multiple?: boolean;
  /** the value's placeholder in help (e.g. 'ARCH'); absent for a boolean flag */
  value?: string;
  /** allowed values, checked by the parser */
  choices?: readonly string[];
  help: string;
  /** the heading it is listed under in --help (options without one come first) */
  group?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** in order; optional ones (shown as [NAME]) come last */
  positionals: { name: string; help: string; optional?: boolean }[];
  options: OptionSpec[];
  run(args: ParsedArgs, io: Io): Promise<number>;
}

export interface ParsedArgs {
  positionals: string[];
  /** boolean flags map to true, multiple options to string[], the others to their string */
  options: Map<string, string | true | string[]>;
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export class UsageError extends Error {}

/**
 * --name value, --name=value, -n value (short alias), boolean --flag, `--` ends options.
 * A `multiple` option takes every following argument up to the next option, and may repeat.
 * Positionals are counted exactly.
 */
export function parseArgs(argv: string[], command: CommandSpec): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true | string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      // a loop, not push(...rest): a very long argv would overflow the call stack (RangeError;
      // test/fuzz/regressions.ts)
      for (let j = i + 1; j < argv.length; j++) positionals.push(argv[j]!);
      break;
    }
    const isShort = /^-[A-Za-z]$/.test(arg);
    if (!arg.startsWith('--') && !isShort) {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg} for ${command.name}`);
      positionals.push(arg);
      continue;
    }
    const eq = isShort ? -1 : arg.indexOf('=');
    const spec = isShort
      ? command.options.find((o) => o.short === arg[1])
      : command.options.find((o) => o.name === arg.slice(2, eq < 0 ? undefined : eq));
    if (spec === undefined) throw new UsageError(`unknown option ${isShort ? arg : arg.slice(0, eq < 0 ? undefined : eq)} for ${command.name}`);
    const name = spec.name;
    if (options.has(name) && !spec.multiple) throw new UsageError(`--${name} given twice`);
    if (spec.value === undefined) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      options.set(name, true);
      continue;
    }
    const values: string[] = [];
    if (eq >= 0) values.push(arg.slice(eq + 1));
    else if (spec.multiple) while (i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) values.push(argv[++i]!);
    else if (i + 1 < argv.length) values.push(argv[++i]!);
    if (values.length === 0) throw new UsageError(`--${name} needs a value (${spec.value})`);
    for (const value of values) {
      if (spec.choices !== undefined && !spec.choices.includes(value)) {
        throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}, got ${value}`);
      }
    }
    if (spec.multiple) options.set(name, [...((options.get(name) as string[] | undefined) ?? []), ...values]);
    else options.set(name, values[0]!);
  }
  const want = command.positionals.map((p) => (p.optional ? `[${p.name}]` : p.name));
  const required = command.positionals.filter((p) => !p.optional).length;
  if (positionals.length < required || positionals.length > want.length) {
    throw new UsageError(`${command.name} takes ${want.length ? want.join(' ') : 'no arguments'}, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`);
  }
  return { positionals, options };
}

/** A numeric option: finite, within [min, max], an integer when asked; UsageError naming it. */
export function numberOption(args: ParsedArgs, name: string, o: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  const raw = args.options.get(name);
  if (raw === undefined) return undefined;
  const v = Number(raw);
  const ok = typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(v) &&
    (o.min === undefined || v >= o.min) && (o.max === undefined || v <= o.max) && (!o.integer || Number.isInteger(v));
  if (!ok) {
    const kind = o.integer ? 'an integer' : 'a number';
    const range = o.min !== undefined && o.max !== undefined ? `${kind} from ${o.min} to ${o.max}`
      : [kind, o.min !== undefined ? `>= ${o.min}` : '', o.max !== undefined ? `<= ${o.max}` : ''].filter(Boolean).join(' ');
    throw new UsageError(`--${name} must be ${range}, got ${String(raw)}`);
  }
  return v;
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.options.get(name) === true;
}
