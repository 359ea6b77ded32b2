// Every error the job raises on purpose is a ClickstreamError with a stable `code`, so callers and
// tests match on codes, not on messages. UserError: something the user can fix (a bad flag, an
// unreachable broker, a malformed file, a full disk); the CLI prints it as one line and exits with
// the code's status (cli/exit-status.ts). Other kinds drive recovery inside the job (a fenced
// producer is not the user's mistake).

export type UserErrorCode =
  | 'BAD_FLAG'
  | 'BAD_TABLE'
  | 'PORT_IN_USE'
  | 'CANNOT_LISTEN'
  | 'BROKER_UNREACHABLE'
  | 'BROKER_LIMIT'
  | 'BROKER_ERROR'
  | 'BAD_FILE'
  | 'TOPIC_MISMATCH'
  | 'STATE_LOCKED'
  | 'STATE_CORRUPT'
  | 'STATE_PERMISSION'
  | 'STATE_WRITE_FAILED'
  | 'BAD_STATE'
  | 'SAVEPOINT_INCOMPLETE'
  | 'JOB_RUNNING';

export type ErrorCode = UserErrorCode | 'FENCED';

export class ClickstreamError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A problem the user can fix: one line at the CLI edge, no stack. */
export class UserError extends ClickstreamError {
  declare readonly code: UserErrorCode;
  constructor(code: UserErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * A transactional producer that can make no more calls: another producer registered its
 * transactional id, or the broker ended its transaction (epoch bumped). The delivery mode
 * replaces the producer; a worker that cannot stops with this error.
 */
export class FencedError extends ClickstreamError {
  constructor(message: string) {
    super('FENCED', message);
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/**
 * An error the Kafka client raised (librdkafka's: a numeric code, origin "kafka" or "local"), as one line a
 * command can end with, or undefined for anything else (a bug keeps its stack).
 */
export function brokerErrorOf(err: unknown, doing: string): UserError | undefined {
  if (err instanceof ClickstreamError || typeof err !== 'object' || err === null) return undefined;
  const { code, origin, message } = err as { code?: unknown; origin?: unknown; message?: unknown };
  if (typeof code !== 'number' || (origin !== 'kafka' && origin !== 'local')) return undefined;
  return new UserError('BROKER_ERROR', `${doing} failed: the broker answered "${String(message).slice(0, 200)}" (code ${code})`);
}
