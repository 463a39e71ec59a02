/**
 * The Temporal client side: connect with the configured address/namespace/TLS and start or
 * signal pgincr's workflows. Used by the CLI and by tests.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { Config } from './config';

/** `connectTimeout`: how long to try before giving up (the SDK's default is 10 s). */
export async function connectTemporal(config: Config, options: { connectTimeout?: Duration } = {}): Promise<Client> {
  const { address, namespace, tls } = config.temporal;
  const connection = await Connection.connect({
    address,
    ...(options.connectTimeout !== undefined ? { connectTimeout: options.connectTimeout } : {}),
    tls: tls
      ? {
          clientCertPair: { crt: readFileSync(tls.clientCertPath), key: readFileSync(tls.clientKeyPath) },
          ...(tls.serverRootCACertificatePath ? { serverRootCACertificate: readFileSync(tls.serverRootCACertificatePath) } : {}),
        }
      : undefined,
  });
  return new Client({ connection, namespace });
}

export async function closeTemporal(client: Client): Promise<void> {
  await client.connection.close();
}
