/**
 * The CLI's entry (src/cli/start.ts) keeps one V8 code cache per command: which command a
 * command line is cached under. The cache itself (made by a first run, accepted by the next) is
 * tested through bin/pgincr in test/integration/cli/cli-start.test.ts.
 */
import { cacheKey } from '../../src/cli/start';

describe('the code cache key of a command line', () => {
  it('is the command: the first word that is no option nor the value of --config or --profile', () => {
    expect(cacheKey(['check', '--nagios'])).toBe('check');
    expect(cacheKey(['--config', 'check.json', '--profile', 'restore', 'check', '--nagios'])).toBe('check');
    expect(cacheKey(['--json', '--config=x.json', 'capture', 'status'])).toBe('capture');
  });

  it('is `help` for --help and for no command at all', () => {
    expect(cacheKey(['--help'])).toBe('help');
    expect(cacheKey([])).toBe('help');
    expect(cacheKey(['--config', 'x.json'])).toBe('help');
  });
});
