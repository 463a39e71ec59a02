/**
 * The publication the pgoutput decoder reads: FOR ALL TABLES, publishing every operation, so
 * tables created later are captured without any step.
 */
import { escapeIdentifier, type Client } from 'pg';
import { NotReadyError } from '../../errors';

interface PublicationRow {
  puballtables: boolean;
  pubinsert: boolean;
  pubupdate: boolean;
  pubdelete: boolean;
  pubtruncate: boolean;
}

async function publicationRow(client: Client, name: string): Promise<PublicationRow | undefined> {
  const { rows } = await client.query<PublicationRow>(
    'SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_catalog.pg_publication WHERE pubname = $1',
    [name],
  );
  return rows[0];
}

function checkShape(name: string, p: PublicationRow): void {
  const missing = (['insert', 'update', 'delete', 'truncate'] as const).filter((op) => !p[`pub${op}`]);
  if (!p.puballtables || missing.length) {
    throw new NotReadyError(`publication ${name} exists but ${!p.puballtables ? 'is not FOR ALL TABLES' : `does not publish ${missing.join(', ')}`}`, {
      hint: `drop it (DROP PUBLICATION ${escapeIdentifier(name)}) so setup can create it FOR ALL TABLES, or configure another capture.publication`,
    });
  }
}

/** Creates the publication FOR ALL TABLES unless it exists; returns whether it created it. */
export async function ensurePublication(client: Client, name: string): Promise<boolean> {
  const existing = await publicationRow(client, name);
  if (existing) {
    checkShape(name, existing);
    return false;
  }
  try {
    await client.query(`CREATE PUBLICATION ${escapeIdentifier(name)} FOR ALL TABLES`);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code !== '42710') throw err;
    const raced = await publicationRow(client, name);
    if (raced) checkShape(name, raced);
    return false;
  }
}

export async function dropPublication(client: Client, name: string): Promise<boolean> {
  const existing = await publicationRow(client, name);
  if (!existing) return false;
  await client.query(`DROP PUBLICATION IF EXISTS ${escapeIdentifier(name)}`);
  return true;
}
