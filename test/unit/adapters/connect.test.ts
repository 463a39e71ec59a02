import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childEnv, clientConfig, describeProfile, matchPgpass, parseServiceFile, resolveProfile } from '../../../src/adapters/pg/connect';

describe('connection profiles (libpq rules)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgincr-connect-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses service files', () => {
    const services = parseServiceFile('# c\n[prod]\nhost = db.example\nport=6543\n\n[other]\ndbname=x\n');
    expect(services.get('prod')).toEqual({ host: 'db.example', port: '6543' });
    expect(services.get('other')).toEqual({ dbname: 'x' });
  });

  it('matches pgpass lines in order, with wildcards and escapes', () => {
    const text = '# comment\nh1:5432:app:bob:first\n*:*:*:bob:pa\\:ss\\\\word\n*:*:*:*:fallback\n';
    const t = { host: 'h1', port: 5432, dbname: 'app', user: 'bob' };
    expect(matchPgpass(text, t)).toBe('first');
    expect(matchPgpass(text, { ...t, host: 'h2' })).toBe('pa:ss\\word');
    expect(matchPgpass(text, { ...t, user: 'eve' })).toBe('fallback');
    expect(matchPgpass('h1:5432:app:bob:x', { ...t, port: 5433 })).toBeUndefined();
  });

  it('applies profile > service > environment precedence', () => {
    const serviceFile = join(dir, 'services.conf');
    writeFileSync(serviceFile, '[svc]\nhost=svc-host\nport=6000\ndbname=svcdb\n');
    const env = { PGSERVICEFILE: serviceFile, PGHOST: 'env-host', PGUSER: 'envuser', PGPORT: '7000', PGDATABASE: 'envdb' };
    expect(resolveProfile({ service: 'svc', dbname: 'mine' }, env)).toMatchObject({ host: 'svc-host', port: 6000, dbname: 'mine', user: 'envuser' });
    expect(resolveProfile({}, env)).toMatchObject({ host: 'env-host', port: 7000, dbname: 'envdb' });
    expect(resolveProfile({ user: 'u' }, {})).toMatchObject({ dbname: 'u', port: 5432 });
    expect(() => resolveProfile({ service: 'nope' }, env)).toThrow(/connection service "nope" not found/);
  });

  it('takes the password from PGPASSWORD or a private pgpass file only', () => {
    const passfile = join(dir, 'pgpass');
    writeFileSync(passfile, 'db:5432:app:bob:s3cret\n');
    chmodSync(passfile, 0o600);
    const profile = { host: 'db', dbname: 'app', user: 'bob', passfile };
    expect(clientConfig(profile, {}).password).toBe('s3cret');
    expect(clientConfig(profile, { PGPASSWORD: 'fromenv' }).password).toBe('fromenv');
    chmodSync(passfile, 0o644);
    expect(clientConfig(profile, {}).password).toBeUndefined();
  });

  it('gives child processes PG* variables, never a password it read from a file', () => {
    const passfile = join(dir, 'pgpass2');
    writeFileSync(passfile, '*:*:*:*:hidden\n');
    chmodSync(passfile, 0o600);
    const env = childEnv(
      { host: 'db', port: 5433, dbname: 'app', user: 'bob', passfile, sslmode: 'require' },
      { PATH: '/bin', PGSERVICEFILE: '/nowhere', PGHOSTADDR: '10.0.0.1' },
    );
    expect(env).toEqual({ PATH: '/bin', PGHOST: 'db', PGPORT: '5433', PGDATABASE: 'app', PGUSER: 'bob', PGPASSFILE: passfile, PGSSLMODE: 'require' });
    expect(JSON.stringify(env)).not.toContain('hidden');
    expect(describeProfile({ host: 'db', dbname: 'app', user: 'bob', passfile }, {})).toBe('host=db port=5432 dbname=app user=bob');
  });
});
