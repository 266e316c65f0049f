#!/bin/sh
# The official image's entrypoint, cut down: `redis-server` started as root owns /data and
# drops to redis; started as anyone else it just runs.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

umask 0077
exec "$@"
