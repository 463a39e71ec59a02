/**
 * Relations seen in the stream (pgoutput sends a Relation message before the first change of
 * a relation in a session, and again whenever it changed), enriched with what pgoutput does not
 * say and the renderer needs: identity ALWAYS columns, generated columns, partitioned tables,
 * and, under REPLICA IDENTITY FULL, how column types that are not built in compare (column-types.ts).
 * Those facts are read from the catalog on a normal connection, with names compared as byte
 * strings (hex of the stored bytes), so non-UTF8 databases match exactly.
 */
import type { Client } from 'pg';
import type { RelationMessage } from '../core/decoding/model';
import type { RelationInfo } from '../core/sql/render';
import type { MatchType } from '../core/sql/full-match';
import { lookupMatchTypes } from './column-types';
import { PgincrError } from '../errors';

/** What the catalog says about a relation, names as byte strings. */
export interface RelationFacts {
  identityAlways: Set<string>;
  generated: Set<string>;
  partitioned: boolean;
  /** FULL identity only: the typed equality of the message's column types that are not built in. */
  matchTypes?: ReadonlyMap<number, MatchType | null>;
}

export type RelationFactsLookup = (relationId: number, full?: { typeOids: readonly number[] }) => Promise<RelationFacts>;

const FACTS_SQL = `
SELECT encode(convert_to(a.attname::text, pg_catalog.getdatabaseencoding()), 'hex') AS name_hex,
       a.attidentity::text AS attidentity, a.attgenerated::text AS attgenerated,
       c.relkind::text AS relkind
  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.oid = $1::oid`;

/** Reads the facts of one relation; an unknown (since dropped) relation has none. */
export function catalogFactsLookup(client: Client): RelationFactsLookup {
  return async (relationId, full) => {
    const { rows } = await client.query<{ name_hex: string | null; attidentity: string | null; attgenerated: string | null; relkind: string }>(FACTS_SQL, [
      relationId,
    ]);
    const facts: RelationFacts = { identityAlways: new Set(), generated: new Set(), partitioned: rows[0]?.relkind === 'p' };
    for (const r of rows) {
      if (r.name_hex === null) continue;
      const name = Buffer.from(r.name_hex, 'hex').toString('latin1');
      if (r.attidentity === 'a') facts.identityAlways.add(name);
      if (r.attgenerated === 's') facts.generated.add(name);
    }
    if (full) facts.matchTypes = await lookupMatchTypes(client, full.typeOids);
    return facts;
  };
}

/** Relation id → RelationInfo, for the life of one replication session. */
export class RelationCache {
  private readonly relations = new Map<number, RelationInfo>();

  constructor(private readonly lookup: RelationFactsLookup) {}

  /** Stores (or replaces) a relation from its Relation message, enriched from the catalog. */
  async remember(msg: RelationMessage): Promise<RelationInfo> {
    const full = msg.replicaIdentity === 'f' ? { typeOids: msg.columns.map((c) => c.typeOid) } : undefined;
    const facts = await this.lookup(msg.relationId, full);
    const { tag: _tag, ...rest } = msg;
    const info: RelationInfo = {
      ...rest,
      identityAlways: facts.identityAlways,
      generated: facts.generated,
      partitioned: facts.partitioned,
      matchTypes: facts.matchTypes,
    };
    this.relations.set(msg.relationId, info);
    return info;
  }

  /**
   * `ALTER SCHEMA from RENAME TO to` seen in the stream: pgoutput sends no new Relation message
   * for the schema's tables (their relcache entries are not invalidated), so later changes would
   * be written with the old schema name. The cached relations move to the new name (as new
   * objects: rendering plans are cached per object).
   */
  renameSchema(from: string, to: string): void {
    for (const [id, info] of this.relations) {
      if (info.schema === from) this.relations.set(id, { ...info, schema: to });
    }
  }

  /** The relation a change refers to; pgoutput always sends it first, so absence is a bug. */
  get(relationId: number): RelationInfo {
    const info = this.relations.get(relationId);
    if (!info) {
      throw new PgincrError('protocol', `pgoutput change for relation ${relationId} before its relation message`, {
        hint: 'the decoder state is out of sync with the stream; restarting the capture resends relation messages',
      });
    }
    return info;
  }
}
