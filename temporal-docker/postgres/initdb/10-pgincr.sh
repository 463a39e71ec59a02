#!/bin/bash
# Runs once, when the source-postgresql volume is created (docker-entrypoint-initdb.d).
# A sample database to back up, and a pgincr login role with the REPLICATION attribute.
# pgincr setup itself creates the publication, slot and event triggers; event triggers need a
# superuser, so run `pgincr setup` as postgres and the worker's capture as pgincr if you like.
set -eo pipefail  # no -u: the image may source this file instead of running it
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v pw="${PGINCR_PASSWORD:-pgincr}" <<'SQL'
CREATE ROLE pgincr LOGIN REPLICATION PASSWORD :'pw';
GRANT pg_read_all_data TO pgincr;
CREATE DATABASE shop;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname shop -f /docker-entrypoint-initdb.d/sample/shop.sql
