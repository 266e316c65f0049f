#!/usr/bin/env bash
# The official image's entrypoint, cut to what the tests use: as root, own the directories and
# drop to postgres; as postgres, initdb once (superuser POSTGRES_USER, default postgres, with
# POSTGRES_PASSWORD or the contents of POSTGRES_PASSWORD_FILE; POSTGRES_DB created when it is
# not postgres), then exec postgres listening on every address.
set -Eeo pipefail

# VAR or VAR_FILE (a file holding the value, e.g. a secret), not both.
file_env() {
  local var="$1" file="${1}_FILE" def="${2:-}"
  if [ "${!var:-}" ] && [ "${!file:-}" ]; then
    echo >&2 "error: both $var and $file are set (but are exclusive)"
    exit 1
  fi
  local val="$def"
  if [ "${!var:-}" ]; then
    val="${!var}"
  elif [ "${!file:-}" ]; then
    val="$(<"${!file}")"
  fi
  export "$var"="$val"
  unset "$file"
}

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" = 'postgres' ]; then
  if [ "$(id -u)" = '0' ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 00700 "$PGDATA"
    chmod 03775 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
  fi

  chmod 00700 "$PGDATA" 2>/dev/null || :
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    if [ -z "$POSTGRES_PASSWORD" ]; then
      echo >&2 'error: the database is uninitialized and POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) is not set'
      exit 1
    fi
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
      --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA"
    printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    if [ "$POSTGRES_DB" != 'postgres' ]; then
      echo "CREATE DATABASE \"$POSTGRES_DB\";" |
        postgres --single -j -D "$PGDATA" postgres >/dev/null
    fi
    echo 'PostgreSQL init process complete; ready for start up.'
  fi
  unset POSTGRES_PASSWORD
fi

exec "$@"
