/**
 * A partial restore's names checked before anything is created (core/restore/selection-check.ts):
 * unknown names found, the closest known ones suggested, hostile names shown on one line.
 */
import { closestNames, describeUnknown, unknownSelection, type KnownRelations } from '../../../src/core/restore/selection-check';
import { parseSelection } from '../../../src/core/restore/table-selection';

const known: KnownRelations = {
  baseTables: [
    { schema: 'public', name: 'orders' },
    { schema: 'public', name: 'order_items' },
    { schema: 'sales', name: 'Targets' },
    { schema: 'public', name: 'we"ird.na\nme' },
  ],
  baseSchemas: ['public', 'sales', 'Sales 2026'],
  laterTables: new Set(['public.audit', 'public."New Table"']),
  laterSchemas: new Set(['"Late Schema"']),
};

describe('unknownSelection', () => {
  it('accepts base tables, tables the segments create, schemas of either', () => {
    const s = parseSelection(['public.orders', 'public.audit', 'public."New Table"', 'sales."Targets"', 'public."we""ird.na\nme"'], ['sales', '"Late Schema"']);
    expect(unknownSelection(s, known)).toEqual([]);
  });

  it('names each unknown table and schema with the closest known names: case, typo, schema', () => {
    const s = parseSelection(['public.order_item', 'sales.targets', 'orders_x', 'public."We""ird.na\nme"', 'nothing.like_it'], ['"sales 2026"', 'late schema']);
    const unknown = unknownSelection(s, known);
    expect(unknown).toEqual([
      { name: 'public.order_item', suggestions: ['public.order_items'] },
      { name: 'sales.targets', suggestions: ['sales."Targets"'] },
      { name: 'public.orders_x', suggestions: ['public.orders'] },
      { name: 'public."We""ird.na\\nme"', suggestions: ['public."we""ird.na\\nme"'] },
      { name: 'nothing.like_it', suggestions: [] },
      { name: 'schema "sales 2026"', suggestions: ['schema "Sales 2026"'] },
      { name: 'schema "late schema"', suggestions: ['schema "Late Schema"'] },
    ]);
    expect(describeUnknown(unknown.slice(0, 1))).toBe('public.order_item (did you mean public.order_items?)');
    expect(describeUnknown(unknown.slice(4, 5))).toBe('nothing.like_it (nothing close)');
    // No line break reaches the message, whatever the names.
    expect(describeUnknown(unknown)).not.toMatch(/[\r\n]/);
  });

  it('suggests the same name in another schema', () => {
    expect(
      closestNames({ schema: 'public', name: 'Targets', display: 'public."Targets"' }, [{ schema: 'sales', name: 'Targets', display: 'sales."Targets"' }]),
    ).toEqual(['sales."Targets"']);
  });
});
