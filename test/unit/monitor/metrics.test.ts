import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMetrics } from '../../../src/monitor/metrics';

describe('metrics', () => {
  it('every metric the Grafana dashboard queries is registered', async () => {
    const registered = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const dashboard = readFileSync(join(__dirname, '../../../grafana/pgincr-dashboard.json'), 'utf8');
    const used = [...new Set(dashboard.match(/pgincr_[a-z_]+/g) ?? [])];
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !registered.has(name))).toEqual([]);
  });

  it('two metric sets do not collide (one registry each)', () => {
    expect(() => {
      createMetrics();
      createMetrics();
    }).not.toThrow();
  });
});
