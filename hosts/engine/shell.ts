/**
 * Commands written the way a POSIX shell would take them back: the remote
 * shell of an SSH command, and every command a plan or a log shows.
 */

/** POSIX single-quoting, only where the shell would otherwise split or expand. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A command line a user can paste into a shell. */
export function shellLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
