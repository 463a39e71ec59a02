/**
 * A simple-protocol query whose `COPY … FROM STDIN` statements are fed from memory: the
 * applier's merged batch (core/restore/merge-sql.ts `renderBatch`) is its statements with COPYs
 * among them and the data of each COPY, in order. The server runs the statements in order and
 * asks for each COPY's data when it reaches it; node-postgres's Query does everything else
 * (results, errors, the end of the query).
 *
 * After an error the server skips the rest of the query string and ignores COPY data still
 * arriving, so a failed batch leaves its transaction aborted, as any failed statement does.
 */
import { Query, type Client } from 'pg';

/** pg's Connection, as far as COPY needs it. */
interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

/** Largest CopyData message sent (the server reads COPY data in messages of any size; this bounds one buffer copy). */
const CHUNK = 1024 * 1024;

class CopyQuery extends Query {
  private next = 0;

  constructor(
    text: string,
    private readonly copies: readonly Buffer[],
  ) {
    super({ text });
  }

  handleCopyInResponse(connection: CopyConnection): void {
    const bytes = this.copies[this.next++];
    if (bytes === undefined) {
      connection.sendCopyFail('pgincr: no data for this COPY');
      return;
    }
    for (let at = 0; at < bytes.length; at += CHUNK) connection.sendCopyFromChunk(bytes.subarray(at, at + CHUNK));
    connection.endCopyFrom();
  }

  /** How many COPYs asked for data. */
  get copiesSent(): number {
    return this.next;
  }
}

/**
 * Runs `text` (several statements, simple protocol) whose `COPY … FROM STDIN` statements take
 * `copies` (COPY data, as bytes) in order; fails when the number of COPYs that ran is not the number of `copies`.
 */
export async function queryWithCopies(client: Client, text: string, copies: readonly Buffer[]): Promise<void> {
  const query = new CopyQuery(text, copies);
  await new Promise<void>((resolve, reject) => {
    void client.query(query as unknown as Parameters<Client['query']>[0], ((error: Error | null) => (error ? reject(error) : resolve())) as never);
  });
  if (query.copiesSent !== copies.length) {
    throw new Error(`pgincr: ${copies.length} COPY data sets prepared, ${query.copiesSent} COPY statements ran (merge-sql.ts renderBatch)`);
  }
}
