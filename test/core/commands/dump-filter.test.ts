import { filterTocList, parseTocList } from '../../../src/core/commands/dump-filter';

// `pg_restore --list --verbose` of a database with pgincr's event trigger and decoder_raw table
// trigger (functions in the excluded pgincr schema), and user objects named like pgincr's.
const LISTING = `;
; Archive created at 2026-12-06 09:21:51 UTC
;     dbname: x
;
; Selected TOC Entries:
;
3354; 0 0 ENCODING - ENCODING 
3357; 1262 16384 DATABASE - x postgres
7; 2615 16401 SCHEMA - pgincr_data postgres
219; 1255 16396 FUNCTION public uf() postgres
217; 1259 16402 TABLE pgincr_data t postgres
;\tdepends on: 7
216; 1259 16398 TABLE public pgincr_x; Type: COMMENT; postgres
3358; 0 0 COMMENT public TABLE "pgincr_x; Type: COMMENT;" postgres
;\tdepends on: 216
3351; 0 16402 TABLE DATA pgincr_data t postgres
;\tdepends on: 217
3207; 2620 16406 TRIGGER pgincr_data t pgincr_raw_capture postgres
;\tdepends on: 217
3359; 0 0 COMMENT pgincr_data TRIGGER pgincr_raw_capture ON t postgres
;\tdepends on: 3207
3205; 3466 16395 EVENT TRIGGER - pgincr_ddl_end postgres
3360; 0 0 COMMENT - EVENT TRIGGER pgincr_ddl_end postgres
;\tdepends on: 3205
3206; 3466 16397 EVENT TRIGGER - pgincr_user postgres
;\tdepends on: 219
3361; 0 0 COMMENT - EVENT TRIGGER pgincr_user postgres
;\tdepends on: 3206
`;

const active = (list: string) =>
  list
    .split('\n')
    .filter((l) => /^\d+;/.test(l))
    .map((l) => Number(l.split(';')[0]));

describe('base dump filter on the archive TOC', () => {
  it('reads entries with their catalog keys and dependencies', () => {
    const entries = parseTocList(LISTING);
    expect(entries).toHaveLength(14);
    expect(entries.find((e) => e.id === 3360)).toMatchObject({ key: '0 0', dependsOn: [3205] });
    expect(entries.find((e) => e.id === 3205)).toMatchObject({ key: '3466 16395', dependsOn: [] });
  });

  it("leaves out pgincr's triggers (by catalog identity) and what depends on them, keeps the rest in order", () => {
    const { list, dropped } = filterTocList(LISTING, new Set(['3466 16395', '2620 16406']));
    expect(dropped).toEqual([3205, 3207, 3359, 3360]);
    expect(active(list)).toEqual([3354, 3357, 7, 219, 217, 216, 3358, 3351, 3206, 3361]);
    // Only whole entry lines are commented out; everything else is byte for byte the listing.
    expect(list.split('\n').map((l) => l.replace(/^; pgincr leaves out: /, ''))).toEqual(LISTING.split('\n'));
  });

  it('keeps everything when pgincr has no triggers; names never matter', () => {
    expect(filterTocList(LISTING, new Set()).list).toBe(LISTING);
    // The user's event trigger pgincr_user is dropped only if its own catalog key is given.
    expect(filterTocList(LISTING, new Set(['3466 16397'])).dropped).toEqual([3206, 3361]);
  });
});
