/**
 * The start-up assertion on pg's private fields: it passes on the installed pg (a real Client,
 * connected to a minimal in-process server that answers the startup packet), and names the pg
 * version and the field when one is gone, as after a pg upgrade that renamed it.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Client } from 'pg';
import { assertPgInternals, missingPgInternal, pgClientIdle, pgVersion } from '../../../src/adapters/pg/pg-internals';

/** Answers any startup packet with AuthenticationOk and ReadyForQuery (idle), then stays quiet. */
function tinyServer(): Promise<Server> {
  const server = createServer((socket) => {
    socket.once('data', () => {
      const auth = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]); // 'R' AuthenticationOk
      const ready = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]); // 'Z' idle
      socket.write(Buffer.concat([auth, ready]));
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let server: Server;
let client: Client;
beforeAll(async () => {
  server = await tinyServer();
  client = new Client({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, user: 'u', database: 'd' });
  await client.connect();
});
afterAll(async () => {
  client.on('error', () => undefined); // the server goes away without a goodbye
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  await new Promise((resolve) => server.close(resolve));
});

test('the installed pg has every private field the replication stream uses', () => {
  expect(pgVersion()).toMatch(/^\d+\.\d+\.\d+/);
  expect(missingPgInternal(client)).toBeNull();
  expect(() => assertPgInternals(client)).not.toThrow();
  expect(pgClientIdle(client)).toBe(true);
});

test.each([
  ['_queryQueue', 'Client._queryQueue'],
  ['readyForQuery', 'Client.readyForQuery'],
  ['connection', 'Client.connection'],
])('without %s it fails loudly, naming the pg version and the field', (field, named) => {
  const copy = Object.assign(Object.create(Object.getPrototypeOf(client) as object) as object, client) as Record<string, unknown>;
  delete copy[field];
  expect(() => assertPgInternals(copy as unknown as Client)).toThrow(`pg ${pgVersion()}: ${named} is missing`);
});

test('a connection without a method it uses fails loudly too', () => {
  const connection = (client as unknown as { connection: object }).connection;
  const shallow = Object.assign(Object.create(Object.getPrototypeOf(connection) as object) as object, connection, { sendCopyFromChunk: undefined });
  const copy = Object.assign(Object.create(Object.getPrototypeOf(client) as object) as object, client, { connection: shallow });
  expect(() => assertPgInternals(copy as unknown as Client)).toThrow(/Client\.connection\.sendCopyFromChunk\(\) is missing/);
  expect(() => assertPgInternals(copy as unknown as Client)).toThrow(/hint: install the pg version pinned/);
});
