// Loaded into the service with NODE_OPTIONS=--import: on SIGUSR2 it starts a child process the
// ordinary way (inheriting process.env, as any code in the service would) and saves what the
// child's environment holds in the file GRIFFIN_TEST_ENV_PROBE names.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

process.on('SIGUSR2', () => {
  const out = process.env.GRIFFIN_TEST_ENV_PROBE;
  if (!out) return;
  const env = execFileSync('/usr/bin/env', ['-0']);
  fs.writeFileSync(`${out}.tmp`, env);
  fs.renameSync(`${out}.tmp`, out);
});
