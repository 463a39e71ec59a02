/**
 * Helpers for the backup/verify/retention workflow tests: a concurrent insert/update load, the
 * capture slot catching up, and what a chain folder holds on disk.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PgCluster } from './pg-cluster';
import { waitFor } from './pgincr-env';
import type { Catalog } from '../../src/core/catalog/schema';

export const LOAD_TABLE = `CREATE TABLE public.load (id bigserial PRIMARY KEY, n int NOT NULL, v text, touched int NOT NULL DEFAULT 0)`;

export interface Load {
  /** Transactions committed so far. */
  readonly committed: number;
  /** Resolves once `n` more transactions have committed. */
  waitMore(n: number): Promise<void>;
  /** Stops the loop and returns the number of committed transactions. */
  stop(): Promise<number>;
}

/** Inserts and updates rows of public.load in a loop (one small transaction each) until stopped. */
export async function startLoad(pg: PgCluster, db: string): Promise<Load> {
  const client = await pg.connect(db);
  let running = true;
  let committed = 0;
  let failure: unknown;
  const loop = (async () => {
    try {
      for (let i = 1; running; i++) {
        if (i % 3 === 0) await client.query('UPDATE public.load SET touched = touched + 1, v = md5(v) WHERE id = (SELECT max(id) FROM public.load) - 1');
        else await client.query(`INSERT INTO public.load (n, v) VALUES ($1::int, 'row ' || $1::int::text)`, [i]);
        committed += 1;
        await new Promise((r) => setTimeout(r, 20));
      }
    } catch (err) {
      failure = err;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return {
    get committed() {
      return committed;
    },
    async waitMore(n) {
      const goal = committed + n;
      await waitFor(
        `${n} more load transactions`,
        async () => {
          if (failure) throw failure;
          return committed >= goal;
        },
        60_000,
        50,
      );
    },
    async stop() {
      running = false;
      await loop;
      if (failure) throw failure;
      return committed;
    },
  };
}

/** Waits until the capture slot has confirmed everything written on the source so far. */
export async function waitSlotCaughtUp(pg: PgCluster, db: string, slot = 'pgincr'): Promise<void> {
  const [{ lsn }] = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn', [], db)) as [{ lsn: string }];
  await waitFor(
    `slot ${slot} to confirm ${lsn}`,
    async () => {
      const rows = await pg.query<{ ok: boolean }>('SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $2', [
        lsn,
        slot,
      ]);
      return rows[0]?.ok === true;
    },
    120_000,
  );
}

/** The one chain folder of a repository. */
export function chainOf(repository: string): string {
  const chains = readdirSync(repository).filter((n) => /^\d+-/.test(n));
  if (chains.length !== 1) throw new Error(`expected one chain in ${repository}, found ${chains.join(', ') || 'none'}`);
  return join(repository, chains[0] as string);
}

export function readCatalog(chain: string): Catalog {
  return JSON.parse(readFileSync(join(chain, 'catalog', 'catalog.json'), 'utf8')) as Catalog;
}

/** Names under base/: completed folders and temporary (in-progress) ones. */
export function baseFolders(chain: string): { complete: string[]; temporary: string[] } {
  const dir = join(chain, 'base');
  const names = existsSync(dir) ? readdirSync(dir) : [];
  return { complete: names.filter((n) => !n.startsWith('.')).sort(), temporary: names.filter((n) => n.startsWith('.')).sort() };
}
