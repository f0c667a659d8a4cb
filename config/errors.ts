/**
 * Errors a user can cause and fix (a bad cluster.yaml, a bad flag). They are
 * printed as one line per problem with no stack trace; any other error is a
 * bug and keeps its stack.
 */
export class UserError extends Error {
  /** `exitCode`: 1 for a problem to fix; 2 for a refusal to go on without the user's say-so. */
  constructor(readonly problems: string[], readonly exitCode = 1) {
    super(problems.join('\n'));
    this.name = 'UserError';
  }
}
