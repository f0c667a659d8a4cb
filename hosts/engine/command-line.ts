/**
 * What every command (npm run synth, the node scripts, the bootstrap) does
 * with its command line and its errors: flags parsed strictly by commander
 * (an unknown flag or command gets its "did you mean" hint), a UserError
 * printed as its lines with its exit code (1, or 2 for a refusal), anything
 * else left to crash with its stack (a bug).
 */
import * as path from 'node:path';
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

/**
 * The flags of this command (and its subcommands) that npm kept for itself: `npm run bootstrap --dry-run`,
 * without the `--`, hands the script no flag and sets npm_config_dry_run=true instead (npm takes every flag
 * before `--`; a value after one becomes the script's argument). Only when npm runs this very script
 * (npm_lifecycle_script names it); a flag npm leaves empty by default (npm_config_yes=) counts once set.
 */
export function npmSwallowedFlags(command: Command, env: NodeJS.ProcessEnv = process.env, script: string | undefined = process.argv[1]): string[] {
  const lifecycle = env.npm_lifecycle_script;
  if (!lifecycle || !script || !lifecycle.split(/\s+/).some((word) => path.resolve(word) === path.resolve(script))) return [];
  const longs = [command, ...command.commands].flatMap((c) => c.options.map((o) => o.long)).filter((long): long is string => Boolean(long));
  return [...new Set(longs)].filter((long) => (env[`npm_config_${long.slice(2).replaceAll('-', '_')}`] ?? '') !== '');
}

/** A UserError when npm kept flags of this command for itself (npmSwallowedFlags): checked before anything else is read of the command line. */
export function refuseSwallowedFlags(command: Command, env: NodeJS.ProcessEnv = process.env): void {
  const swallowed = npmSwallowedFlags(command, env);
  if (!swallowed.length) return;
  const run = env.npm_lifecycle_event ? `npm run ${env.npm_lifecycle_event}` : 'npm run <script>';
  throw new UserError([`npm took ${swallowed.join(', ')} as its own option${swallowed.length > 1 ? 's' : ''}, so the script did not get ${swallowed.length > 1 ? 'them' : 'it'}: put -- before the script's flags (${run} -- ${swallowed[0]} ...); nothing was done`]);
}

/** Parses with commander; a mistake on the command line is a UserError; help printed is a clean exit (returns false). */
export function parseWith(command: Command, args: string[], env: NodeJS.ProcessEnv = process.env): boolean {
  refuseSwallowedFlags(command, env);
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
