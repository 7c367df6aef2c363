/**
 * Ctrl-C (SIGINT) or SIGTERM during a transfer aborts it through the library's AbortSignal, so it ends
 * the way every abort does: ABORTED, with no tag moved, nothing installed and no temp file left. A
 * second Ctrl-C exits at once (130, as a shell reports a SIGINT).
 */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const interrupt = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    // The abort lands at the next byte moved or step taken; a request still waiting for its answer
    // ends with its own timeout, or with a second Ctrl-C.
    process.stderr.write(
      '\nkart: interrupted; stopping without changing anything (Ctrl-C again to quit at once)\n',
    );
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  return controller.signal;
}
