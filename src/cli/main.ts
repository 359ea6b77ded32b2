// The clickstream command line: one subcommand per file in this folder. User mistakes end here
// as one line on stderr and a non-zero exit; anything else is a bug and keeps its stack.

import { Command, CommanderError } from 'commander';
import { exitStatusOf, EXIT_OK } from './exit-status.js';
import { consumeCommand } from './consume.js';
import { produceCommand } from './produce.js';
import { runCommand } from './run.js';
import { restoreCommand } from './restore.js';
import { savepointCommand } from './savepoint.js';
import { dashboardCommand } from './dashboard.js';
import { topicsCommand } from './topics.js';

export function buildProgram(): Command {
  const program = new Command('clickstream')
    .description('event-time windowed click counts on Kafka')
    .showSuggestionAfterError()
    .exitOverride();
  program.addCommand(topicsCommand());
  program.addCommand(produceCommand());
  program.addCommand(consumeCommand());
  program.addCommand(runCommand());
  program.addCommand(savepointCommand());
  program.addCommand(restoreCommand());
  program.addCommand(dashboardCommand());
  for (const command of program.commands) applyExitOverride(command);
  return program;
}

function applyExitOverride(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) applyExitOverride(sub);
}

export async function main(argv: string[]): Promise<number> {
  // Piped into `head` or a closed terminal: stop quietly, as Unix tools do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  try {
    await buildProgram().parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed its one line
    const status = exitStatusOf(err);
    if (status === undefined) throw err;
    process.stderr.write(`clickstream: ${(err as Error).message}\n`);
    return status;
  }
}
