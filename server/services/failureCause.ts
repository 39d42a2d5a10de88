/**
 * The line of a failed run's log that says why it failed, so the run's reason (and the UI banner)
 * carries "ValueError: the label column is missing" rather than only "exited with code 1".
 *
 * A Python traceback ends with the exception line (`ValueError: ...`), possibly followed by
 * chained tracebacks; the last such line wins. Without a traceback, the last line that is not
 * Griffin's own (`[griffin] ...`) and not blank stands in, unless the infrastructure ended the
 * process (tracebackOnly). The result is capped, since a reason is
 * shown in one line.
 */
export const MAX_CAUSE_LENGTH = 300;

const TRACEBACK_START = /^Traceback \(most recent call last\):\s*$/;
/** An exception line: a dotted name ending in Error/Exception/Exit/Interrupt/Warning, or any `Name:`. */
const EXCEPTION_LINE = /^([A-Za-z_][\w.]*)(:\s.*|:?\s*)$/;

export function failureCause(logTail: string, options: { tracebackOnly?: boolean } = {}): string | undefined {
  const lines = logTail.split(/\r?\n/).map((line) => line.replace(/\s+$/, ''));
  let cause: string | undefined;
  for (let i = 0; i < lines.length; i += 1) {
    if (!TRACEBACK_START.test(lines[i])) continue;
    // The exception line is the first unindented line after the frames.
    for (let j = i + 1; j < lines.length; j += 1) {
      const line = lines[j];
      if (line === '' || /^\s/.test(line)) continue;
      if (EXCEPTION_LINE.test(line)) cause = line;
      break;
    }
  }
  // A process killed from outside (a signal, a lost node) did not print why: its last line is no cause.
  if (!cause && !options.tracebackOnly) cause = [...lines].reverse().find((line) => line.trim() !== '' && !line.startsWith('[griffin]'));
  if (!cause) return undefined;
  cause = cause.trim();
  return cause.length > MAX_CAUSE_LENGTH ? `${cause.slice(0, MAX_CAUSE_LENGTH - 1)}…` : cause;
}

/** A backend's reason with the cause appended, unless the reason already says it. */
export function withCause(reason: string, cause: string | undefined): string {
  if (!cause || reason.includes(cause)) return reason;
  return `${reason}: ${cause}`;
}
