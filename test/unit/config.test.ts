import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { durationMs, loadConfig, parseConfig } from '../../src/config';

const env = {} as NodeJS.ProcessEnv;

function problems(raw: unknown): string {
  try {
    parseConfig(raw, env, 'config file x.json');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config validation', () => {
  it('applies defaults and creates the default profile', () => {
    const c = parseConfig({ repository: '/backups' }, env);
    expect(c.capture.decoder).toBe('pgoutput');
    expect(c.capture.slot).toBe('pgincr');
    expect(c.capture.rawBacklogMaxBytes).toBe(64 * 1024 * 1024);
    expect(c.schedules.fullBackup.cron).toBe('0 2 * * *');
    expect(c.retention).toEqual({ segmentsDays: 7, fullDays: 30, monthlyForMonths: 12 });
    expect(c.profiles.default).toEqual({});
  });

  it('names a missing repository', () => {
    expect(problems({})).toMatch(/repository: /);
  });

  it('names a wrong type with its key path', () => {
    expect(problems({ repository: '/b', profiles: { main: { port: 'five' } } })).toMatch(/profiles\.main\.port: .*number/);
  });

  it('names an out-of-range number', () => {
    expect(problems({ repository: '/b', profiles: { main: { port: 70000 } } })).toMatch(/profiles\.main\.port: /);
  });

  it('bounds the decoder_raw backlog at 1 MiB or more', () => {
    expect(problems({ repository: '/b', capture: { rawBacklogMaxBytes: 1000 } })).toMatch(/capture\.rawBacklogMaxBytes: /);
  });

  it('names an unknown key (typos do not pass silently)', () => {
    expect(problems({ repository: '/b', captrue: {} })).toMatch(/captrue/);
  });

  it('names a bad enum value and lists one line per problem', () => {
    const msg = problems({ repository: '/b', capture: { decoder: 'wal2json', slot: 'Bad-Slot' } });
    expect(msg).toMatch(/capture\.decoder: /);
    expect(msg).toMatch(/capture\.slot: a lower-case SQL identifier/);
    expect(msg.split('\n').filter((l) => l.startsWith('  ')).length).toBe(2);
  });

  it('names a bad duration', () => {
    expect(problems({ repository: '/b', capture: { segmentMaxAge: '15 minutes' } })).toMatch(/capture\.segmentMaxAge: a duration like/);
  });

  it('keeps the capture heartbeat well under its timeout', () => {
    expect(problems({ repository: '/b', capture: { heartbeatInterval: '30s' } })).toMatch(/capture\.heartbeatInterval: at most 10s/);
  });

  it('refuses passwords in the config file and points to pgpass', () => {
    const msg = problems({ repository: '/b', profiles: { main: { host: 'db', password: 'hunter2' } } });
    expect(msg).toMatch(/profiles\.main\.password: passwords are not allowed/);
    expect(msg).toMatch(/hint: .*pgpass/);
    expect(msg).not.toMatch(/hunter2/);
  });

  it('takes the repository and Temporal address from the environment', () => {
    const c = parseConfig({}, { PGINCR_REPOSITORY: '/r', TEMPORAL_ADDRESS: '10.0.0.1:7233' });
    expect(c.repository).toBe('/r');
    expect(c.temporal.address).toBe('10.0.0.1:7233');
  });

  it('loads a JSON file and reports invalid JSON with the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgincr-config-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ repository: '/b', profiles: { app: { host: 'db', dbname: 'app' } }, defaultProfile: 'app' }));
    expect(loadConfig(good, env).profiles.app?.dbname).toBe('app');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ repository: ');
    expect(() => loadConfig(bad, env)).toThrow(new RegExp(`config file ${bad} is not valid JSON`));
    expect(() => loadConfig(join(dir, 'missing.json'), env)).toThrow(/cannot read config file/);
  });

  it('without a file needs PGINCR_REPOSITORY', () => {
    expect(() => loadConfig(undefined, {})).toThrow(/PGINCR_REPOSITORY/);
  });

  it('parses durations', () => {
    expect(durationMs('15m')).toBe(900_000);
    expect(durationMs('500ms')).toBe(500);
    expect(() => durationMs('1 week')).toThrow(/invalid duration/);
  });
});

describe('S3 repository config', () => {
  const s3 = {
    url: 's3://backups-eu/pgincr/prod',
    endpoint: 'http://127.0.0.1:7070',
    region: 'eu-west-1',
    forcePathStyle: true,
    spool: '/var/lib/pgincr/spool',
  };

  it('keeps the spool as the local folder and the bucket, prefix and connection as the object store', () => {
    const c = parseConfig({ repository: s3 }, env);
    expect(c.repository).toBe('/var/lib/pgincr/spool');
    expect(c.objectStore).toEqual({
      bucket: 'backups-eu',
      prefix: 'pgincr/prod',
      endpoint: 'http://127.0.0.1:7070',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
    expect(c.capture.segmentMaxAge).toBe('1m'); // the slot waits for uploads: segments seal after a short age
    expect(parseConfig({ repository: s3, capture: { segmentMaxAge: '5m' } }, env).capture.segmentMaxAge).toBe('5m');
    expect(parseConfig({ repository: '/b' }, env).objectStore).toBeUndefined();
  });

  it('refuses credentials in the config file and points to the AWS environment', () => {
    for (const key of ['accessKeyId', 'secretAccessKey', 'sessionToken', 'credentials', 'aws_secret_access_key']) {
      const msg = problems({ repository: { ...s3, [key]: 'AKIAEXAMPLE' } });
      expect(msg).toMatch(new RegExp(`repository\\.${key}: credentials are not allowed in the config file`));
      expect(msg).toMatch(/hint: .*AWS_ACCESS_KEY_ID/);
      expect(msg).not.toMatch(/AKIAEXAMPLE/);
    }
    expect(problems({ repository: { ...s3, credentials: { accessKeyId: 'AKIAEXAMPLE' } } })).toMatch(/repository\.credentials: credentials are not allowed/);
  });

  it('names a bad URL, a missing spool, an unknown key and a bare s3:// string', () => {
    expect(problems({ repository: { ...s3, url: 's3://Bad_Bucket/x' } })).toMatch(
      /repository\.url: s3:\/\/Bad_Bucket\/x: "Bad_Bucket" is not an S3 bucket name/,
    );
    expect(problems({ repository: { ...s3, url: 's3://bucket/a/../b' } })).toMatch(/repository\.url: .*'\.\.'/);
    expect(problems({ repository: { url: s3.url } })).toMatch(/repository/);
    expect(problems({ repository: { ...s3, endpoint: 'not a url' } })).toMatch(/repository/);
    expect(problems({ repository: 's3://backups-eu/pgincr' })).toMatch(
      /repository: an S3 repository is an object with a local spool folder[^]*hint: write "repository": \{ "url": "s3:\/\/backups-eu\/pgincr", "spool"/,
    );
  });

  describe('encryption', () => {
    const recipient = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
    const secret = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFQ';

    it('takes recipients and the identity file path from the config, or the environment over it', () => {
      const c = parseConfig({ repository: { ...s3, encryption: { recipients: [recipient], identityFile: '/etc/pgincr/age-identity.txt' } } }, env);
      expect(c.objectStore?.encryption).toEqual({ recipients: [recipient], identityFile: '/etc/pgincr/age-identity.txt' });
      const fromEnv = parseConfig({ repository: s3 }, { PGINCR_AGE_RECIPIENTS: `${recipient} ${recipient}`, PGINCR_AGE_IDENTITY_FILE: '/run/key' });
      expect(fromEnv.objectStore?.encryption).toEqual({ recipients: [recipient, recipient], identityFile: '/run/key' });
      expect(parseConfig({ repository: s3 }, env).objectStore?.encryption).toBeUndefined();
      expect(parseConfig({ repository: { ...s3, encryption: { identityFile: '/k' } } }, env).objectStore?.encryption).toEqual({
        recipients: [],
        identityFile: '/k',
      });
    });

    it('refuses a private key anywhere in the config without repeating it, and names a bad recipient', () => {
      for (const encryption of [{ recipients: [secret] }, { identity: secret }, { identityFile: secret }]) {
        const msg = problems({ repository: { ...s3, encryption } });
        expect(msg).toMatch(/repository\.encryption\.\S+: age private keys are not allowed in the config file/);
        expect(msg).toMatch(/hint: .*PGINCR_AGE_IDENTITY_FILE/);
        expect(msg).not.toContain(secret);
      }
      expect(problems({ repository: { ...s3, encryption: { recipients: ['age1nope'] } } })).toMatch(
        /repository\.encryption: recipients\[0\] "age1nope" is not an age X25519 public key/,
      );
      expect(problems({ repository: { ...s3, encryption: {} } })).toMatch(/repository\.encryption: needs recipients .* and\/or identityFile/);
      let envMessage = '';
      try {
        parseConfig({ repository: s3 }, { PGINCR_AGE_RECIPIENTS: secret });
      } catch (error) {
        envMessage = (error as Error).message;
      }
      expect(envMessage).toMatch(/PGINCR_AGE_RECIPIENTS: recipients\[0\] is a private key/);
      expect(envMessage).not.toContain(secret);
    });
  });

  it('takes two repositories: the local path is the repository folder, the copy the object store', () => {
    const { spool: _spool, ...copy } = s3;
    const c = parseConfig({ repository: { path: '/var/backups/pgincr', copy } }, env);
    expect(c.repository).toBe('/var/backups/pgincr');
    expect(c.objectStore).toMatchObject({ bucket: 'backups-eu', prefix: 'pgincr/prod', copy: true });
    expect(parseConfig({ repository: s3 }, env).objectStore?.copy).toBeUndefined();
    expect(problems({ repository: { path: '/b', copy: { ...copy, spool: '/s' } } })).toMatch(/repository/);
  });

  it('refuses decoder_raw with an S3 repository (not supported yet)', () => {
    expect(problems({ repository: s3, capture: { decoder: 'decoder_raw' } })).toMatch(
      /capture\.decoder: decoder_raw is not supported with an S3 repository yet/,
    );
  });
});
