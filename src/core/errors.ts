/**
 * An error whose message is meant for the user as is: plain, one line, no stack, no key, no path outside
 * the workspace. Everything else is a bug and is reported as such.
 */
export class UserError extends Error {
  constructor(message: string, readonly code: string = 'user_error') {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}
