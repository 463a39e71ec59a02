/**
 * The Temporal client side: connect with the configured address/namespace/TLS and start or
 * signal pgincr's workflows. Used by the CLI and by tests.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { Config } from './config';

export async function connectTemporal(config: Config): Promise<Client> {
  const { address, namespace, tls } = config.temporal;
  const connection = await Connection.connect({
    address,
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
