#!/bin/sh
# TEST STAND-IN entrypoint (deploy/stand-ins/postgres.Containerfile), not the official image's: on an empty
# $PGDATA, initdb with POSTGRES_USER as the superuser and POSTGRES_PASSWORD as its password (scram-sha-256 over
# TCP, trust on the container's own socket, as the official image), then POSTGRES_DB; then `postgres "$@"`.
set -eu
if [ "${1:-postgres}" = postgres ]; then
    [ $# -gt 0 ] && shift
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        user=${POSTGRES_USER:-postgres}
        : "${POSTGRES_PASSWORD:?the stand-in needs POSTGRES_PASSWORD, as the official image does}"
        password_file=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
        initdb --username="$user" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 \
            --encoding=UTF8 >/dev/null
        rm -f "$password_file"
        echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
        echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
        database=${POSTGRES_DB:-$user}
        if [ "$database" != postgres ]; then
            echo "CREATE DATABASE \"$database\"" | postgres --single -D "$PGDATA" postgres >/dev/null
        fi
        echo "postgres-entrypoint: made the database $database of $user in $PGDATA" >&2
    fi
    exec postgres "$@"
fi
exec "$@"
