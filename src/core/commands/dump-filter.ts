/**
 * Which entries of a base dump's archive are restored: all but pgincr's own. The filter works on
 * the archive's table of contents (`pg_restore --list --verbose`), never on the text of a dump,
 * so no name, comment or function body of the user's can make it keep or drop anything else.
 *
 * pg_dump leaves out the `pgincr` schema (`--exclude-schema=pgincr`) but still dumps event
 * triggers (they belong to no schema) and table triggers (decoder_raw mode's, on the user's
 * tables) whose functions live in that schema; restored, they would fail under ON_ERROR_STOP or
 * run code that is not there. Those objects are picked by their catalog identity (`pg_event_trigger`
 * / `pg_trigger` oid, read in the dump's own snapshot: triggers whose function is in `pgincr`),
 * never by name: a user's event trigger `pgincr_user` is kept. Entries that depend on a dropped
 * entry (its COMMENT, SECURITY LABEL) are dropped with it.
 *
 * The list that `pg_restore --use-list` reads back is the listing itself with the dropped
 * entries' lines commented out (`;` first), so the order and every other entry are unchanged.
 */

interface TocEntry {
  id: number;
  key: string;
  line: number;
  dependsOn: number[];
}

const ENTRY = /^(\d+); (\d+) (\d+) /;
const DEPENDS = /^;\tdepends on:((?: \d+)*)\s*$/;

/** The entries of a `pg_restore --list --verbose` listing, with their dependencies. */
export function parseTocList(listing: string): TocEntry[] {
  const entries: TocEntry[] = [];
  const lines = listing.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = ENTRY.exec(line);
    if (m) {
      entries.push({ id: Number(m[1]), key: `${m[2]} ${m[3]}`, line: i, dependsOn: [] });
      continue;
    }
    // pg_restore prints an entry's dependencies on the line after it.
    const d = DEPENDS.exec(line);
    const last = entries[entries.length - 1];
    if (d && last) last.dependsOn.push(...d[1]!.trim().split(/\s+/).filter(Boolean).map(Number));
  }
  return entries;
}

export interface FilteredToc {
  /** The list for `pg_restore --use-list`. */
  list: string;
  /** Dump ids of the entries left out. */
  dropped: number[];
}

/**
 * Comments out the entries of the objects in `drop` (by catalog key) and, transitively, every
 * entry that depends on one of them.
 */
export function filterTocList(listing: string, drop: ReadonlySet<string>): FilteredToc {
  const entries = parseTocList(listing);
  const dropped = new Set<number>();
  for (const e of entries) if (drop.has(e.key)) dropped.add(e.id);
  for (let changed = dropped.size > 0; changed;) {
    changed = false;
    for (const e of entries) {
      if (!dropped.has(e.id) && e.dependsOn.some((id) => dropped.has(id))) {
        dropped.add(e.id);
        changed = true;
      }
    }
  }
  const lines = listing.split('\n');
  for (const e of entries) if (dropped.has(e.id)) lines[e.line] = `; pgincr leaves out: ${lines[e.line]}`;
  return { list: lines.join('\n'), dropped: [...dropped].sort((a, b) => a - b) };
}
