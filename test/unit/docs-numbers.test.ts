/**
 * The numbers docs quote are the code's: docs/workflows.md's table of activity classes against
 * src/workflows/activity-options.ts (read as text: the workflow module only runs in a sandbox).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** `'2 minutes'` / `'20s'` / `'12 hours'` → seconds. */
function seconds(duration: string): number {
  const m = /^(\d+)\s*(s|min|minutes?|h|hours?)$/.exec(duration.trim());
  if (!m) throw new Error(`cannot read duration ${duration}`);
  const unit = m[2]!.startsWith('h') ? 3600 : m[2]!.startsWith('m') ? 60 : 1;
  return Number(m[1]) * unit;
}

/** The options object of `export const <name> = proxyActivities…({ … });` as text. */
function optionsOf(source: string, name: string): string {
  const start = source.indexOf(`export const ${name} = proxyActivities`);
  if (start < 0) throw new Error(`activity class ${name} not found`);
  return source.slice(start, source.indexOf('});', start));
}

function option(block: string, key: string): string | undefined {
  return new RegExp(`${key}: '([^']+)'`).exec(block)?.[1];
}

describe('docs/workflows.md activity classes', () => {
  const code = read('src/workflows/activity-options.ts');
  const rows = read('docs/workflows.md')
    .split('\n')
    .filter((l) => /^\| (quick|long|capture) /.test(l))
    .map((l) =>
      l
        .split('|')
        .map((c) => c.trim())
        .filter((c) => c !== ''),
    );

  it('documents every class', () => {
    expect(rows.map((r) => r[0]!.split(' ')[0])).toEqual(['quick', 'long', 'capture']);
  });

  it.each(['quick', 'long', 'capture'])('%s: start-to-close and heartbeat timeouts match the code', (name) => {
    const row = rows.find((r) => r[0]!.startsWith(name))!;
    const block = optionsOf(code, name);
    expect(seconds(row[1]!)).toBe(seconds(option(block, 'startToCloseTimeout')!));
    const heartbeat = option(block, 'heartbeatTimeout');
    if (heartbeat === undefined) expect(row[2]).toBe('—');
    else expect(seconds(row[2]!)).toBe(seconds(heartbeat));
  });
});
