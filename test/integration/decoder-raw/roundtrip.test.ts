/**
 * capture.decoder = decoder_raw end to end through the real activities (no Temporal): setup
 * (capture schema, replica identity, the decoder_raw triggers, base in the slot's snapshot) →
 * captureChanges (pg_recvlogical + post-processing into segments) → stop → restore equals the
 * source. Runs only where decoder_raw is installed (see raw-cluster.ts).
 */
import type { PgCluster } from '../../helpers/pg-cluster';
import { restoreChain, schemaDump, sealedSegmentText, stateOf, type DirectChain } from '../../helpers/direct-pipeline';
import { BASE_DATA, CHANGES, MIXED_SCHEMA } from '../../helpers/workload';
import { decoderRawAvailable } from '../../../src/adapters/pg/raw-capture-objects';
import { describeRaw, startRawCluster } from './raw-cluster';
import { captureUntilConfirmed, runStatements, setUpDecoderChain } from './raw-chain';

jest.setTimeout(300_000);

async function expectSameData(pg: PgCluster, source: string, target: string): Promise<void> {
  const [a, b] = await Promise.all([stateOf(pg, source), stateOf(pg, target)]);
  expect(b.tables).toEqual(a.tables);
  expect(b.sequences).toEqual(a.sequences);
}

describeRaw('decoder_raw capture: setup → capture → restore equals the source', () => {
  let pg: PgCluster;
  const chains: DirectChain[] = [];

  beforeAll(async () => {
    pg = await startRawCluster();
  });
  afterAll(async () => {
    for (const c of chains) c.env.cleanup();
    await pg?.stop();
  });

  it('probes the plugin: available once allow-listed', async () => {
    expect(await decoderRawAvailable(pg.profile())).toMatchObject({ available: true });
  });

  it('basic functionality: insert, update, delete, ADD COLUMN, update of it', async () => {
    const chain = await setUpDecoderChain(
      pg,
      'basic',
      `
      CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
      INSERT INTO users (name, email) VALUES ('Alice', 'alice@x'), ('Bob', 'bob@x');`,
      'decoder_raw',
    );
    chains.push(chain);
    await runStatements(pg, 'basic', [
      `INSERT INTO users (name, email) VALUES ('Carol', 'carol@x'), ('Dave', 'dave@x')`,
      `UPDATE users SET name = 'Alice Smith' WHERE email = 'alice@x'`,
      `DELETE FROM users WHERE name = 'Bob'`,
      `ALTER TABLE users ADD COLUMN age int DEFAULT 18`,
      `UPDATE users SET age = 42 WHERE name = 'Carol'`,
      `INSERT INTO users (name, email, age) VALUES ('Eve', 'eve@x', 30)`,
      `BEGIN; INSERT INTO users (name) VALUES ('rolled back'); ROLLBACK`,
    ]);
    await captureUntilConfirmed(pg, chain, 'decoder_raw');
    const text = sealedSegmentText(chain);
    expect(text).toMatch(/decoder: decoder_raw/);
    expect(text).toMatch(/ALTER TABLE users ADD COLUMN age int DEFAULT 18/);
    expect(text).not.toMatch(/^BEGIN;$/m); // decoder_raw's own markers are gone
    expect(text).not.toContain('rolled back');
    expect(text.indexOf('ADD COLUMN age')).toBeGreaterThan(text.indexOf('Alice Smith'));
    await restoreChain(chain, 'basic_restored');
    expect(await pg.query('SELECT name, age FROM users ORDER BY id', [], 'basic_restored')).toEqual([
      { name: 'Alice Smith', age: 18 },
      { name: 'Carol', age: 42 },
      { name: 'Dave', age: 18 },
      { name: 'Eve', age: 30 },
    ]);
    await expectSameData(pg, 'basic', 'basic_restored');
  });

  it('the mixed workload (every type, FULL with duplicates, identity, generated, DDL, TRUNCATE, a new table) restores exactly', async () => {
    const chain = await setUpDecoderChain(pg, 'mixed', `${MIXED_SCHEMA}\n${BASE_DATA}`, 'decoder_raw');
    chains.push(chain);
    await runStatements(pg, 'mixed', [...CHANGES, 'TRUNCATE later', `INSERT INTO later VALUES (1, 'after truncate')`]);
    await captureUntilConfirmed(pg, chain, 'decoder_raw');
    const text = sealedSegmentText(chain);
    expect(text).toMatch(/^TRUNCATE ONLY public\.by_index;$/m);
    expect(text).toMatch(/^TRUNCATE ONLY public\.later;$/m);
    expect(text).not.toMatch(/= null/);
    await restoreChain(chain, 'mixed_restored');
    // The base dump leaves out pgincr's per-table triggers: the restored schema is the source's.
    expect(schemaDump(pg, 'mixed_restored')).toEqual(schemaDump(pg, 'mixed'));
    await expectSameData(pg, 'mixed', 'mixed_restored');
  });
});
