/*
 * What an exit status says about who ended a training process: a status above 128 is a signal's
 * (128 + its number), which the infrastructure sends (the OOM killer's SIGKILL, a node shutting
 * down), not the training code's own exit. Shared by the backends that see exit statuses.
 */

const SIGNAL_NAMES: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 4: 'SIGILL', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM' };

/** The signal an exit status stands for ("SIGKILL" for 137), or undefined for an exit of the code's own. */
export function signalOfExit(code: number): string | undefined {
  if (code <= 128 || code > 128 + 64) return undefined;
  return SIGNAL_NAMES[code - 128] ?? `${code - 128}`;
}

/** "the training process was stopped by SIGKILL (exit code 137)" or "... exited with code 1", and whether it is the infrastructure's doing. */
export function describeExitStatus(code: number, where = ''): { reason: string; infrastructure: boolean } {
  const signal = signalOfExit(code);
  const suffix = where ? ` ${where}` : '';
  if (signal) return { reason: `the training process was killed by signal ${signal} (exit code ${code})${suffix}`, infrastructure: true };
  return { reason: `the training process exited with code ${code}${suffix}`, infrastructure: false };
}

/**
 * Words of a Ray job's failure message that say a node, worker or the memory monitor ended it
 * rather than the driver's code.
 */
const RAY_INFRASTRUCTURE = /(node .*(died|dead|lost|removed|preempt)|NodeDiedError|worker (died|crashed|was killed)|WorkerCrashedError|RayActorError.*(died|killed)|OutOfMemoryError|out of memory|OOM|preempt|raylet .*(died|exit))/i;

export const isRayInfrastructureMessage = (message: string): boolean => RAY_INFRASTRUCTURE.test(message);
