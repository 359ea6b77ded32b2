// The process exit status of every outcome, in one place (the README's "Exit codes" lists them):
// 0 success, 1 a usage error (a bad flag or argument), 2 any other problem the user can fix.
// Anything else is a bug and keeps its stack.

import { ClickstreamError, type ErrorCode } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_USAGE = 1;
export const EXIT_USER = 2;

const statusOfCode: Record<ErrorCode, number> = {
  BAD_FLAG: EXIT_USAGE,
  BAD_TABLE: EXIT_USER,
  PORT_IN_USE: EXIT_USER,
  CANNOT_LISTEN: EXIT_USER,
  BROKER_UNREACHABLE: EXIT_USER,
  BROKER_LIMIT: EXIT_USER,
  BROKER_ERROR: EXIT_USER,
  BAD_FILE: EXIT_USER,
  TOPIC_MISMATCH: EXIT_USER,
  STATE_LOCKED: EXIT_USER,
  STATE_CORRUPT: EXIT_USER,
  STATE_PERMISSION: EXIT_USER,
  STATE_WRITE_FAILED: EXIT_USER,
  BAD_STATE: EXIT_USER,
  SAVEPOINT_INCOMPLETE: EXIT_USER,
  JOB_RUNNING: EXIT_USER,
  // Another live worker kept this one's transactional id although it drew a new one: stop.
  FENCED: EXIT_USER,
};

/** The exit status for an error the job raised on purpose; undefined for a bug. */
export function exitStatusOf(err: unknown): number | undefined {
  return err instanceof ClickstreamError ? statusOfCode[err.code] : undefined;
}
