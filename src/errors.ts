// Errors a user can cause or must fix (bad flag, unreachable broker, malformed file, full disk). They carry a stable
// `code` so callers and tests match on codes; the CLI edge prints them as one line, no stack.

export type UserErrorCode =
  | 'BAD_FLAG'
  | 'BAD_TABLE'
  | 'BROKER_UNREACHABLE'
  | 'BAD_FILE'
  | 'TOPIC_MISMATCH'
  | 'STATE_LOCKED'
  | 'STATE_CORRUPT'
  | 'STATE_PERMISSION'
  | 'STATE_WRITE_FAILED'
  | 'FENCED'
  | 'BAD_STATE'
  | 'SAVEPOINT_INCOMPLETE'
  | 'JOB_RUNNING';

export class UserError extends Error {
  readonly code: UserErrorCode;
  constructor(code: UserErrorCode, message: string) {
    super(message);
    this.name = 'UserError';
    this.code = code;
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}
