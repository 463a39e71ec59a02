import { createServer } from 'node:net';

/**
 * Ports come from below Linux's ephemeral range (32768–60999): the kernel hands those to every
 * listen(0) and outgoing connection of other processes (the Temporal server's own services, a
 * gateway, a client), so one of them could take an ephemeral port between this check and the
 * caller's bind. PGINCR_PORT_RANGE=lo-hi narrows the range (tests give each jest worker its own).
 */
const DEFAULT_RANGE: [number, number] = [20000, 32767];

function portRange(): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(process.env.PGINCR_PORT_RANGE ?? '');
  if (!m) return DEFAULT_RANGE;
  const [lo, hi] = [Number(m[1]), Number(m[2])];
  return lo >= 1024 && hi <= 65535 && lo < hi ? [lo, hi] : DEFAULT_RANGE;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => done(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => done(true)));
  });
}

function anyPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/** A TCP port free on 127.0.0.1 right now (the caller binds it soon after; a race is retried by callers). */
export async function freePort(): Promise<number> {
  const [lo, hi] = portRange();
  const span = hi - lo + 1;
  // A random start: two processes asking at once rarely walk the same ports.
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < Math.min(span, 200); i++) {
    const port = lo + ((start + i) % span);
    if (await canListen(port)) return port;
  }
  return anyPort();
}
