/**
 * What every command (npm run synth, the node scripts, the bootstrap) does
 * with its command line and its errors: flags parsed strictly by commander
 * (an unknown flag or command gets its "did you mean" hint), a UserError
 * printed as its lines with its exit code (1, or 2 for a refusal), anything
 * else left to crash with its stack (a bug).
 */
import { Command, CommanderError, Option } from 'commander';
import { UserError } from '../../config/errors';

/** Runs a command's body; a UserError becomes its lines on stderr and its exit code (1, or 2 for a refusal). */
export async function runCommand(body: () => unknown): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof UserError) {
      for (const problem of error.problems) console.error(problem);
      process.exitCode = error.exitCode;
      return;
    }
    throw error;
  }
}

/** Flags as the command line spells them: `--config FILE` is a string, `--dry-run` a boolean. */
export type FlagSpec = Record<string, { type: 'string' | 'boolean'; description?: string; valueName?: string }>;
export type FlagValues<T extends FlagSpec> = { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean };

/** Adds the flags to a commander command; returns how to read their values back under their command-line names. */
export function addFlags<T extends FlagSpec>(command: Command, flags: T): () => FlagValues<T> {
  const options = Object.entries(flags).map(([name, spec]) => {
    const option = new Option(spec.type === 'string' ? `--${name} <${spec.valueName ?? 'value'}>` : `--${name}`, spec.description);
    command.addOption(option);
    return [name, option] as const;
  });
  return () => {
    const values = command.opts();
    return Object.fromEntries(options.map(([name, option]) => [name, values[option.attributeName()]])) as FlagValues<T>;
  };
}

/**
 * Errors go into the error, not onto the terminal: commander's message becomes one
 * UserError line (its "did you mean" hint included) with a pointer to --help.
 * Settings are copied to the subcommands added after this.
 */
export function strict(command: Command): Command {
  return command
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: () => undefined });
}

/** Parses with commander; a mistake on the command line is a UserError; help printed is a clean exit (returns false). */
export function parseWith(command: Command, args: string[]): boolean {
  try {
    command.parse(args, { from: 'user' });
    return true;
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) return false; // --help (or a help command) was printed
    const message = error.message.replace(/^error: /, '').split('\n').map((line) => line.trim()).filter(Boolean).join(' ').replace(/\.$/, '');
    throw new UserError([`${message}; see --help`]);
  }
}

/**
 * A command line of flags (and, if allowed, positional arguments), strictly:
 * an unknown flag or a missing value is a UserError. --help is an ordinary
 * flag here: the caller prints its own help.
 */
export function parseCommandLine<T extends FlagSpec>(args: string[], flags: T, allowPositionals = false): { values: FlagValues<T>; positionals: string[] } {
  const command = strict(new Command()).helpOption(false).allowExcessArguments(allowPositionals);
  const values = addFlags(command, flags);
  parseWith(command, args);
  return { values: values(), positionals: command.args };
}

/** Flags only (no positional arguments). */
export function parseFlags<T extends FlagSpec>(args: string[], flags: T): FlagValues<T> {
  return parseCommandLine(args, flags).values;
}
