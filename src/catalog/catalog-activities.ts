/** The repository catalog as commands see it: `pgincr list` (bases, segments, the restorable window, gaps) and `catalog rebuild`. */
import { basename } from 'node:path';
import type { CliOnlyActivities } from '../activities/types';
import { chainDirFor, type ActivityDeps } from '../activities/context';
import { restorableWindow, findGaps, unrestorableSpans } from '../core/catalog/catalog';
import { table } from '../core/format/table';
import { loadOrRebuildCatalog, rebuildCatalog, updateCatalog } from '../adapters/fs/catalog-store';
import { loadStoredCatalog } from '../adapters/s3/chain-mirror';
import type { ObjectStore } from '../adapters/s3/object-store';
import { objectStoreOf } from '../activities/object-store';
import type { Catalog } from '../core/catalog/schema';
import { CATALOG_FILE } from '../core/repository/paths';
import { ObjectStoreError } from '../errors';

/** The bucket's catalog of a chain; an error naming it and the fix when it has none. */
async function bucketCatalog(store: ObjectStore, chain: string): Promise<Catalog> {
  const catalog = await loadStoredCatalog(store, basename(chain));
  if (!catalog) {
    throw new ObjectStoreError(`no catalog at ${store.describe(`${basename(chain)}/${CATALOG_FILE}`)}`, {
      hint: 'has `pgincr setup` run with this repository? If the bucket holds the chain files, `pgincr catalog rebuild` recreates it',
    });
  }
  return catalog;
}

type CatalogActivities = Pick<CliOnlyActivities, 'listRepository' | 'rebuildCatalog'>;

export function catalogActivities(deps: ActivityDeps): CatalogActivities {
  return {
    async listRepository({ profile }) {
      const chain = await chainDirFor(deps, profile);
      // With an object store: the bucket's catalog, read directly (no download, no local folder needed).
      const store = objectStoreOf(deps.config);
      const catalog = store ? await bucketCatalog(store, chain) : await loadOrRebuildCatalog(chain);
      const window = restorableWindow(catalog);
      const gaps = findGaps(catalog);
      const spans = unrestorableSpans(window);
      const lines = [
        `chain ${store ? store.describe(basename(chain)) : chain}`,
        '',
        table(
          ['BASE', 'LSN', 'TAKEN AT', 'BYTES'],
          catalog.bases.map((b) => [b.id, b.lsn, b.takenAt, b.bytes]),
        ),
        '',
        table(
          ['SEGMENT', 'START', 'END', 'TXNS', 'LAST COMMIT'],
          catalog.segments.map((s) => [s.file, s.startLsn, s.endLsn, s.transactions, s.lastCommitTime]),
        ),
        '',
        window.earliest && window.latest
          ? `restorable: from ${window.earliest.time} (${window.earliest.lsn}) to ${window.latest.time} (${window.latest.lsn})`
          : 'restorable: nothing yet (no base)',
        // One line per break between chains (a lost or dropped slot): "from … to …" is not continuous there.
        ...spans.map(
          (s) =>
            `NOT restorable: from ${s.fromTime} (${s.fromLsn}) to ${s.toTime} (${s.toLsn}): the chain broke at ${s.fromLsn}; base ${s.nextBase} starts a new chain`,
        ),
        table(
          ['FROM BASE', 'FROM LSN', 'TO LSN', 'TO TIME', 'CHAIN'],
          window.ranges.map((r) => [
            r.baseId,
            r.fromLsn,
            r.toLsn,
            r.toTime,
            r.broken ? `${r.broken.kind} ${r.broken.fromLsn} → ${r.broken.toLsn} before ${r.broken.before}` : 'whole',
          ]),
        ),
        gaps.length ? `GAPS: ${gaps.map((g) => `${g.kind} from ${g.fromLsn} to ${g.toLsn}, after ${g.after}, before ${g.before}`).join('; ')}` : 'no gaps',
      ];
      return { text: lines.join('\n'), data: { chain, catalog, window, gaps, unrestorable: spans } };
    },

    async rebuildCatalog({ profile }) {
      const chain = await chainDirFor(deps, profile);
      const damaged: string[] = [];
      const catalog = await updateCatalog(chain, () => rebuildCatalog(chain, damaged));
      return { bases: catalog.bases.length, segments: catalog.segments.length, damaged };
    },
  };
}
