import { createServer, type Server } from 'node:net';
import { freePort } from '../../../src/adapters/net/free-port';

function listen(port: number): Promise<Server> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(port, '127.0.0.1', () => done(srv));
  });
}

describe('freePort', () => {
  const saved = process.env.PGINCR_PORT_RANGE;
  afterEach(() => {
    if (saved === undefined) delete process.env.PGINCR_PORT_RANGE;
    else process.env.PGINCR_PORT_RANGE = saved;
  });

  it('stays below the kernel ephemeral range by default', async () => {
    delete process.env.PGINCR_PORT_RANGE;
    const port = await freePort();
    expect(port).toBeGreaterThanOrEqual(20000);
    expect(port).toBeLessThan(32768);
  });

  it('picks from PGINCR_PORT_RANGE and skips a port another process listens on', async () => {
    const held = await listen(0);
    const port = (held.address() as { port: number }).port;
    try {
      process.env.PGINCR_PORT_RANGE = `${port}-${port + 1}`;
      for (let i = 0; i < 5; i++) expect(await freePort()).toBe(port + 1);
    } finally {
      held.close();
    }
  });
});
