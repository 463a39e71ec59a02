/**
 * The repository line of a preflight run where no repository is configured: the database is
 * still checked, and this line says what is missing and how to set it (issue 15).
 */
import type { Finding } from './report';

export function missingRepositoryFinding(): Finding {
  return {
    check: 'repository',
    status: 'fail',
    message: 'no repository configured: there is nowhere to write bases and segments',
    hint:
      'set "repository" in the config file (--config FILE or PGINCR_CONFIG), or export PGINCR_REPOSITORY=/path/to/backups, ' +
      'or run `npm run dev` in this folder (it uses .pgincr/repository)',
  };
}
