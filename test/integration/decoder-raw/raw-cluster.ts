/**
 * decoder_raw test clusters. Tests in this folder run only where the decoder_raw output plugin
 * is installed (`<pkglibdir>/decoder_raw.so`); elsewhere they are skipped with a message saying
 * how to build it. Clusters allow-list it in `output_plugin_libraries` where the server has that
 * setting (PostgreSQL 15.19+ refuses an unlisted plugin, even for a superuser).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PG_BIN } from '../../../src/dev/local-cluster';
import { startCluster, type ClusterOptions, type PgCluster } from '../../helpers/pg-cluster';

export const DECODER_RAW_MISSING =
  'decoder_raw is not installed: build it from michaelpq/pg_plugins 07b0e94 (cd decoder_raw && make USE_PGXS=1 && make USE_PGXS=1 install, ' +
  'needs postgresql-server-dev-15) to run the decoder_raw tests';

function pkglibdir(): string | null {
  try {
    return execFileSync(join(PG_BIN, 'pg_config'), ['--pkglibdir'], { encoding: 'utf8' }).trim();
  } catch {
    try {
      return execFileSync('pg_config', ['--pkglibdir'], { encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  }
}

/** True when the server's library folder holds decoder_raw (checked once, synchronously, for describe/describe.skip). */
export const decoderRawInstalled: boolean = (() => {
  const dir = pkglibdir();
  return dir !== null && existsSync(join(dir, 'decoder_raw.so'));
})();

/** `describe` where decoder_raw is installed, else `describe.skip` with a message. */
export const describeRaw: jest.Describe = decoderRawInstalled ? describe : describe.skip;
if (!decoderRawInstalled) console.warn(DECODER_RAW_MISSING);

/** Allow-lists decoder_raw in output_plugin_libraries when the server has that setting. */
export async function allowDecoderRaw(pg: PgCluster): Promise<boolean> {
  const rows = await pg.query(`SELECT 1 FROM pg_catalog.pg_settings WHERE name = 'output_plugin_libraries'`);
  if (rows.length === 0) return false;
  await pg.query(`ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'decoder_raw'`);
  await pg.query('SELECT pg_catalog.pg_reload_conf()');
  for (let i = 0; i < 100; i++) {
    const [r] = await pg.query<{ setting: string }>(`SELECT setting FROM pg_catalog.pg_settings WHERE name = 'output_plugin_libraries'`);
    if (r?.setting.includes('decoder_raw')) return true;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('output_plugin_libraries did not take decoder_raw after a reload');
}

export async function startRawCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  const pg = await startCluster(options);
  await allowDecoderRaw(pg);
  return pg;
}
