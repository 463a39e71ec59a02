/** Issue 16: preflight says whether the server's major is tested, and reports failover slots (17+). */
import { evaluatePreflight, TESTED_MAJORS, type PreflightFacts } from '../../../src/core/preflight/checks';
import { facts } from '../../helpers/preflight-facts';
import { buildReport } from '../../../src/core/preflight/report';

const opts = { decoder: 'pgoutput' as const, slot: 'pgincr' };
const find = (f: PreflightFacts, check: string) => evaluatePreflight(f, opts).find((x) => x.check === check);

describe('server version: tested majors', () => {
  it('names 15, 16, 17 and 18 as tested', () => {
    expect(TESTED_MAJORS).toEqual([15, 16, 17, 18]);
    for (const [num, text] of [
      [150020, '15.20'],
      [160014, '16.14'],
      [170010, '17.10'],
      [180004, '18.4'],
    ] as const) {
      const version = find(facts({ serverVersionNum: num, serverVersion: text }), 'server version');
      expect(version).toEqual({
        check: 'server version',
        status: 'ok',
        message: `PostgreSQL ${text}: major ${Math.floor(num / 10000)} is tested (tested majors: 15, 16, 17, 18)`,
      });
    }
  });

  it('warns on a supported but untested major (13, 14, 19), naming the tested ones', () => {
    for (const [num, text] of [
      [130020, '13.20'],
      [140017, '14.17'],
      [190000, '19beta1'],
    ] as const) {
      const f = facts({ serverVersionNum: num, serverVersion: text });
      expect(find(f, 'server version')).toMatchObject({
        status: 'warning',
        message: expect.stringContaining(`major ${Math.floor(num / 10000)} is not one of the majors pgincr is tested on (15, 16, 17, 18)`),
        hint: expect.stringContaining('verify'),
      });
      expect(buildReport(evaluatePreflight(f, opts)).exitCode).toBe(1);
    }
  });

  it('still fails below 13', () => {
    expect(find(facts({ serverVersionNum: 120010, serverVersion: '12.10' }), 'server version')?.status).toBe('fail');
  });
});

describe('failover slots (17+)', () => {
  const slot = (failover: boolean | null) => ({ name: 'pgincr', plugin: 'pgoutput', database: 'app', slotType: 'logical', failover });

  it('reports whether the capture slot is a failover slot on 17 and 18', () => {
    expect(find(facts({ serverVersionNum: 170010, serverVersion: '17.10', slot: slot(true) }), 'failover slot')).toMatchObject({
      status: 'ok',
      message: expect.stringContaining('slot pgincr is a failover slot'),
    });
    expect(find(facts({ serverVersionNum: 180004, serverVersion: '18.4', slot: slot(false) }), 'failover slot')).toMatchObject({
      status: 'ok',
      message: expect.stringContaining('ALTER_REPLICATION_SLOT pgincr (FAILOVER true)'),
    });
  });

  it('says nothing below 17 or before the slot exists', () => {
    expect(find(facts({ serverVersionNum: 160014, serverVersion: '16.14', slot: slot(null) }), 'failover slot')).toBeUndefined();
    expect(find(facts({ serverVersionNum: 170010, serverVersion: '17.10', slot: null }), 'failover slot')).toBeUndefined();
  });
});

describe('event_triggers (17+)', () => {
  it('fails when event triggers are off: the DDL triggers of the capture schema would not fire', () => {
    const f = facts({ serverVersionNum: 170010, serverVersion: '17.10', eventTriggers: 'off' });
    expect(find(f, 'event_triggers')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining("event_triggers is 'off'"),
      hint: expect.stringContaining('ALTER SYSTEM RESET event_triggers'),
    });
    expect(buildReport(evaluatePreflight(f, opts)).exitCode).toBe(2);
  });

  it('is ok when on, and absent before 17', () => {
    expect(find(facts({ serverVersionNum: 180004, serverVersion: '18.4', eventTriggers: 'on' }), 'event_triggers')?.status).toBe('ok');
    expect(find(facts(), 'event_triggers')).toBeUndefined();
  });
});
