import { request } from 'node:http';
import { freePort } from '../../../src/adapters/net/free-port';
import { parseConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { createMetrics } from '../../../src/monitor/metrics';
import { serveMetrics } from '../../../src/worker';

/** GET /metrics on host:port: the status code, or the connection error's code. */
function get(host: string, port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/metrics', timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('metrics server address', () => {
  const logger = createLogger({ level: 'silent' });

  it('listens on 127.0.0.1 only when metricsHost is unset', async () => {
    const port = await freePort();
    const config = parseConfig({ repository: '/backups', metricsPort: port }, {});
    expect(config.metricsHost).toBe('127.0.0.1');
    const server = await serveMetrics(config, logger, createMetrics());
    expect(server).toBeDefined();
    try {
      expect(server!.host).toBe('127.0.0.1');
      expect(await get('127.0.0.1', port)).toBe(200);
      // Another local address of this machine (the whole 127/8 is loopback on Linux).
      expect(await get('127.0.0.2', port)).toBe('ECONNREFUSED');
    } finally {
      await server!.close();
    }
  });

  it('listens where metricsHost says', async () => {
    const port = await freePort();
    const config = parseConfig({ repository: '/backups', metricsPort: port, metricsHost: '0.0.0.0' }, {});
    const server = await serveMetrics(config, logger, createMetrics());
    try {
      expect(server!.host).toBe('0.0.0.0');
      expect(await get('127.0.0.2', port)).toBe(200);
    } finally {
      await server!.close();
    }
  });
});
