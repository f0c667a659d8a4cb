/**
 * Errors a user can cause and fix (a bad cluster.yaml, a bad flag). They are
 * printed as one line per problem with no stack trace; any other error is a
 * bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'UserError';
  }
}
