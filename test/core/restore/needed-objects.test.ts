/**
 * Which types and functions a partial restore keeps (core/restore/needed-objects.ts): what the
 * kept relations use through pg_depend, transitively (argument types, a domain's base type and
 * CHECK function, an array's element), what a kept function's body names, and nothing else; a
 * candidate's parts (a domain's constraint, an array type) never make it needed by themselves.
 */
import { bodyNames, neededObjects, type Candidate, type DependEdge } from '../../../src/core/restore/needed-objects';

const fn = (key: string, name: string, body: string | null = null): Candidate => ({ key, name, body, describe: `function public.${name}()` });
const ty = (key: string, name: string): Candidate => ({ key, name, body: null, describe: `type public.${name}` });
const e = (from: string, to: string, type = 'n'): DependEdge => ({ from, to, type });

describe('neededObjects', () => {
  const candidates = [
    fn('p:1', 'next_code', "BEGIN RETURN code_prefix() || nextval('s'); END"),
    fn('p:2', 'code_prefix', 'SELECT \'X-\' || "Fmt"()'),
    fn('p:3', 'Fmt'),
    fn('p:4', 'unused', 'SELECT 1'),
    fn('p:5', 'positive', 'SELECT $1 > 0'),
    ty('t:1', 'mood'),
    ty('t:2', 'pos'),
    ty('t:3', 'unused_enum'),
    ty('t:4', 'pair'),
    fn('p:6', 'takes_pair'),
    ty('t:5', 'flag'),
  ];
  const edges = [
    e('c:orders', 'n:public'),
    // orders.state uses mood[] (its array type, part of mood); orders.qty the domain pos; a default calls next_code().
    e('c:orders', 't:1a'),
    e('t:1a', 't:1', 'i'),
    e('c:orders', 't:2'),
    e('attrdef:1', 'p:1'),
    e('attrdef:1', 'c:orders', 'a'),
    // pos's CHECK (a part of pos) calls positive().
    e('con:pos', 't:2', 'a'),
    e('con:pos', 'p:5'),
    // unused_enum's array, and a domain CHECK on an unused type calling unused(): parts, not needs.
    e('t:3a', 't:3', 'i'),
    e('con:pair', 't:4', 'a'),
    e('con:pair', 'p:4'),
    // takes_pair(pair) is unused: pair stays unneeded; flag is only its return type.
    e('p:6', 't:4'),
    e('p:6', 't:5'),
  ];

  it('keeps what the relations use, transitively and by body text, and removes the rest', () => {
    const r = neededObjects(candidates, edges);
    expect(r.kept.map((c) => c.name).sort()).toEqual(['Fmt', 'code_prefix', 'mood', 'next_code', 'pos', 'positive']);
    expect(r.removed.map((c) => c.name).sort()).toEqual(['flag', 'pair', 'takes_pair', 'unused', 'unused_enum']);
    expect(r.keptByName.map((c) => c.name).sort()).toEqual(['Fmt', 'code_prefix']);
  });

  it('a kept function keeps its argument and return types', () => {
    const r = neededObjects(candidates, [...edges, e('trigger:1', 'p:6')]);
    expect(r.kept.map((c) => c.name)).toEqual(expect.arrayContaining(['takes_pair', 'pair', 'flag']));
    // pair's CHECK is a part of pair: once pair is kept, the function it calls is too.
    expect(r.kept.map((c) => c.name)).toContain('unused');
  });
});

describe('bodyNames', () => {
  it('folds bare words, keeps quoted ones as written', () => {
    expect([...bodyNames('SELECT Code_Prefix() || "Fmt"() || "a""b"')]).toEqual(['select', 'code_prefix', 'Fmt', 'a"b']);
  });
});
