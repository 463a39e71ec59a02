/**
 * Migration 3: `pgincr.markers`, sentinels written into the stream.
 *
 * A full backup or a checkpoint fixes an LSN after which there may be no transaction yet, so no
 * sealed segment would reach it and a restore "to that LSN" could not be planned. pgincr then
 * inserts a marker row (kind `full-backup` / `checkpoint`, the LSN it stands for) and asks the
 * capture to rotate: the marker is a transaction after that LSN, rendered as a comment line
 * (`-- pgincr marker: …`), so the sealed segment that holds it covers the LSN. Written by
 * `pgincr.write_marker(kind, lsn, note)`, which returns the row id.
 */
export const version = 3;
export const description = 'markers: sentinel transactions for full backups and checkpoints';

export const sql = String.raw`
CREATE TABLE pgincr.markers (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  kind text NOT NULL,
  lsn pg_lsn,
  note text
);

CREATE FUNCTION pgincr.write_marker(kind text, lsn pg_lsn, note text) RETURNS bigint LANGUAGE sql AS $fn$
  INSERT INTO pgincr.markers (kind, lsn, note) VALUES (kind, lsn, note) RETURNING id
$fn$;
`;
