#!/bin/sh
# One-shot (compose service temporal-schema, admin-tools image): creates Temporal's two PostgreSQL
# databases and brings their schemas to the version this server image ships. Idempotent: a database
# that exists is kept and only updated, so `docker compose up` again is safe.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
schema=/etc/temporal/schema/postgresql/v12
sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p 5432 -u "$POSTGRES_USER" "$@"; }

for db in temporal temporal_visibility; do
  dir=$schema/temporal/versioned
  [ "$db" = temporal_visibility ] && dir=$schema/visibility/versioned
  sql --db "$db" create-database 2>/dev/null || echo "database $db exists"
  # setup-schema -v 0.0 only creates the version table; it fails harmlessly when it exists.
  sql --db "$db" setup-schema -v 0.0 2>/dev/null || echo "schema of $db already set up"
  sql --db "$db" update-schema -d "$dir"
done
echo "schema ready"
