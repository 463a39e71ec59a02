import { startCluster, type PgCluster } from '../helpers/pg-cluster';

describe('throwaway PostgreSQL cluster', () => {
  let pg: PgCluster;
  beforeAll(async () => {
    pg = await startCluster();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('runs with wal_level=logical as a non-root user', async () => {
    const rows = await pg.query<{ wal_level: string }>('SHOW wal_level');
    expect(rows[0]?.wal_level).toBe('logical');
    const who = await pg.query<{ u: string }>('SELECT current_user AS u');
    expect(who[0]?.u).not.toBe('root');
  });

  it('takes per-cluster overrides', async () => {
    const other = await startCluster({ settings: { wal_level: 'replica' } });
    try {
      const rows = await other.query<{ wal_level: string }>('SHOW wal_level');
      expect(rows[0]?.wal_level).toBe('replica');
    } finally {
      await other.stop();
    }
  });
});
