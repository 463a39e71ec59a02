/** The globals beside a base: roles, memberships and tablespaces, as `pg_dumpall --globals-only` writes them. */
import { join } from 'node:path';
import { runPgDumpall } from '../adapters/exec/pg-tools';
import { profileByName, type ProfileInput, type SetupDeps } from '../activities/profiles';
import { BASE_FILES } from '../core/repository/paths';

/** `pg_dumpall --globals-only` into the base folder as globals.sql. */
export async function dumpGlobals(deps: SetupDeps, input: ProfileInput & { baseDir: string; signal?: AbortSignal }): Promise<{ file: string }> {
  const profile = profileByName(deps.config, input.profile);
  const file = join(input.baseDir, BASE_FILES.globals);
  await runPgDumpall({
    profile,
    outPath: file,
    noRolePasswords: deps.config.setup.noRolePasswords,
    ...(profile.dbname ? { database: profile.dbname } : {}),
    ...(input.signal ? { signal: input.signal } : {}),
  });
  deps.logger.info({ profile: input.profile, file }, 'globals dumped');
  return { file };
}
