#!/bin/bash
# The databases of Souk in the official postgres:15 image (compose.yaml mounts this file into
# /docker-entrypoint-initdb.d/): one role and one database per service, souk_users,
# souk_orders and souk_payments, each role owning its database and able to connect to it
# alone, as Tools/dev-db sets up the local cluster.
#
# The image runs it once, when the data volume is new, as the superuser through the unix
# socket of a server that listens on nothing else yet. Passwords come from the environment:
# SOUK_USERS_DB_PASSWORD, SOUK_ORDERS_DB_PASSWORD, SOUK_PAYMENTS_DB_PASSWORD. Changing one
# later means ALTER ROLE by hand: this script does not run again on an existing volume.
set -euo pipefail

for service in users orders payments; do
  variable="SOUK_${service^^}_DB_PASSWORD"
  password="${!variable:?$variable is not set}"
  # psql quotes the variables itself (:"name" an identifier, :'name' a literal), so a
  # password with quotes in it cannot break the statement.
  psql -X -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
       -v role="souk_$service" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
-- PUBLIC may connect to a new database by default; only its owner may connect to this one.
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
  echo "postgres-init: made role and database souk_$service"
done
