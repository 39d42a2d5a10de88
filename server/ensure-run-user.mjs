// Part of `npm start` (prestart). Started as root, Griffin runs local training as an unprivileged
// user (GRIFFIN_RUN_AS_USER, default griffin-run); a first start as root on a fresh machine creates
// that default user, as tests/setup/ensure.sh and deploy/Dockerfile do, so the first run trains
// instead of failing for want of it. A user named in GRIFFIN_RUN_AS_USER is never created here.
import { execFileSync } from 'node:child_process';

const DEFAULT_USER = 'griffin-run';
const exists = (name) => {
  try {
    execFileSync('getent', ['passwd', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

if (process.getuid?.() === 0 && !process.env.GRIFFIN_RUN_AS_USER && !exists(DEFAULT_USER)) {
  try {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', DEFAULT_USER], { stdio: 'inherit' });
    console.log(`[griffin] created the system user ${DEFAULT_USER}: running as root, Griffin runs local training as it`);
  } catch (error) {
    console.warn(`[griffin] could not create the system user ${DEFAULT_USER} (${error.message}); local runs will fail until it exists: useradd --system --no-create-home --shell /usr/sbin/nologin ${DEFAULT_USER}`);
  }
}
