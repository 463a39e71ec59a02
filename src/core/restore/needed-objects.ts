/**
 * Which types and functions a partial restore keeps: those the restored relations use, and
 * nothing else. Pure: the graph is the database's own dependency catalog (pg_depend), read by
 * restore/partial-objects.ts after the segments applied, so DDL in the stream (a column added
 * with a new type, a trigger made later) counts.
 *
 * Candidates for removal are the user's functions (and procedures, aggregates) and types
 * (enums, domains, ranges, standalone composites), not those of an extension. Every other object
 * the catalog lists (the kept tables, their columns, defaults, constraints, triggers, indexes,
 * generated columns, views' rules, policies, casts, operators…) is needed, and so is whatever it
 * depends on, transitively: a function's argument and return types, a domain's base type and the
 * functions its CHECK calls, an enum a column uses, an array's element type. A candidate's parts
 * (what depends on it automatically or internally: a domain's constraints, its array type, a
 * composite's relation) come and go with it.
 *
 * A function body is text to PostgreSQL (plpgsql, and SQL functions without a standard body,
 * record no dependencies on what they call), so a kept function whose body names a candidate —
 * as a word anywhere in it, a string or a comment included — keeps that candidate too: a
 * function that cannot be proven unneeded is kept, and the restored table's defaults and
 * triggers work. Only a name built at run time (`EXECUTE 'SELECT ' || f || '()'`) is not seen.
 */

/** A catalog object: `classid:objid` (pg_depend's terms; a column counts as its relation). */
export type ObjectKey = string;

export interface Candidate {
  key: ObjectKey;
  /** Its name as a body would write it (unqualified, as stored). */
  name: string;
  /** A function's body when it is text (prosrc of any language but C and internal), else null. */
  body: string | null;
  /** What a person reads: `function public.f(integer)`, `type public.mood`. */
  describe: string;
}

export interface DependEdge {
  /** The dependent object. */
  from: ObjectKey;
  /** What it depends on. */
  to: ObjectKey;
  /** pg_depend.deptype: n (normal), a (auto), i (internal). */
  type: string;
}

export interface NeededObjects {
  kept: Candidate[];
  removed: Candidate[];
  /** Kept only because a kept function's body names them (their names are in it). */
  keptByName: Candidate[];
}

/** Words of a body as names: bare identifiers folded to lower case, quoted ones as written. */
export function bodyNames(body: string): Set<string> {
  const out = new Set<string>();
  for (const m of body.matchAll(/"((?:[^"]|"")+)"|([A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)/g)) {
    out.add(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!.toLowerCase());
  }
  return out;
}

export function neededObjects(candidates: readonly Candidate[], edges: readonly DependEdge[]): NeededObjects {
  const byKey = new Map(candidates.map((c) => [c.key, c]));
  const dependsOn = new Map<ObjectKey, ObjectKey[]>();
  const partsOf = new Map<ObjectKey, ObjectKey[]>();
  for (const e of edges) {
    dependsOn.set(e.from, [...(dependsOn.get(e.from) ?? []), e.to]);
    if (e.type === 'a' || e.type === 'i') partsOf.set(e.to, [...(partsOf.get(e.to) ?? []), e.from]);
  }
  // Each candidate's parts (transitively): they belong to it, not to what is needed.
  const ownerOf = new Map<ObjectKey, ObjectKey>();
  const ownParts = new Map<ObjectKey, ObjectKey[]>();
  for (const c of candidates) {
    const queue = [c.key];
    const parts: ObjectKey[] = [];
    while (queue.length > 0) {
      const x = queue.pop()!;
      if (ownerOf.has(x)) continue;
      ownerOf.set(x, c.key);
      parts.push(x);
      for (const p of partsOf.get(x) ?? []) if (!byKey.has(p)) queue.push(p);
    }
    ownParts.set(c.key, parts);
  }
  const kept = new Set<ObjectKey>();
  const keptByName = new Set<ObjectKey>();
  const queue: ObjectKey[] = [];
  const need = (x: ObjectKey): void => {
    const owner = ownerOf.get(x);
    if (owner === undefined) {
      if (!kept.has(x)) {
        kept.add(x);
        queue.push(x);
      }
      return;
    }
    if (kept.has(owner)) return;
    kept.add(owner);
    queue.push(...(ownParts.get(owner) ?? []));
  };
  // Everything the catalog lists that is not a candidate's part is needed.
  for (const e of edges) if (!ownerOf.has(e.from)) need(e.from);
  const byName = new Map<string, Candidate[]>();
  for (const c of candidates) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
  const readBodies = new Set<ObjectKey>();
  for (;;) {
    while (queue.length > 0) for (const to of dependsOn.get(queue.pop()!) ?? []) need(to);
    // Kept functions' bodies: a candidate they name is kept (module comment); until nothing new.
    let more = false;
    for (const c of candidates) {
      if (!kept.has(c.key) || c.body === null || readBodies.has(c.key)) continue;
      readBodies.add(c.key);
      for (const word of bodyNames(c.body)) {
        for (const named of byName.get(word) ?? []) {
          if (kept.has(named.key)) continue;
          keptByName.add(named.key);
          need(named.key);
          more = true;
        }
      }
    }
    if (!more && queue.length === 0) break;
  }
  return {
    kept: candidates.filter((c) => kept.has(c.key)),
    removed: candidates.filter((c) => !kept.has(c.key)),
    keptByName: candidates.filter((c) => keptByName.has(c.key)),
  };
}
