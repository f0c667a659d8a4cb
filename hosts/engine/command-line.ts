/**
 * What every command (npm run synth, the node scripts, the bootstrap) does
 * with its command line and its errors: flags parsed strictly, a UserError
 * printed as its lines with exit code 1, anything else left to crash with
 * its stack (a bug).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
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

/** A command line, strictly: an unknown flag or a missing value is a UserError. */
export function parseCommandLine<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals } as const);
  } catch (error) {
    throw new UserError([`${(error as Error).message.split('\n')[0]}; see --help`]);
  }
}

/** Flags only (no positional arguments). */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  return parseCommandLine(args, options).values;
}
