#!/bin/sh
# Creates and migrates Temporal's two databases (temporal, temporal_visibility) in
# temporal-postgresql. Same steps as temporalio/samples-server compose/scripts/setup-postgres.sh;
# `create` ignores an existing database and update-schema applies only missing versions, so a
# second `docker compose up` re-runs this job harmlessly (as Temporal's old auto-setup image did).
set -eu
: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
PORT="${DB_PORT:-5432}"

echo "waiting for ${POSTGRES_SEEDS}:${PORT}"
nc -z -w 10 "${POSTGRES_SEEDS}" "${PORT}"

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) schema=/etc/temporal/schema/postgresql/v12/temporal/versioned ;;
    *) schema=/etc/temporal/schema/postgresql/v12/visibility/versioned ;;
  esac
  temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS}" -u "${POSTGRES_USER}" -p "${PORT}" --db "$db" create
  temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS}" -u "${POSTGRES_USER}" -p "${PORT}" --db "$db" setup-schema -v 0.0
  temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS}" -u "${POSTGRES_USER}" -p "${PORT}" --db "$db" update-schema -d "$schema"
done
echo "temporal schema ready"
