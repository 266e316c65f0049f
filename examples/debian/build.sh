#!/usr/bin/env bash
# Builds the test images made from Debian packages, shaped like the official ones:
#   bulkhead-test/bookworm:base  a minimal bookworm rootfs (debootstrap --variant=minbase), imported
#   bulkhead-test/postgres:15    Debian's postgresql-15    (./postgres)
#   bulkhead-test/redis:7        Debian's redis-server     (./redis)
#   bulkhead-test/nginx:1        Debian's nginx            (./nginx)
#   bulkhead-test/python:3       Debian's python3 with Flask, redis-py, psycopg2 (./python)
# Idempotent and cheap when nothing changed: an image whose tag exists and whose inputs (its
# directory and the base image) are the ones it was built from is kept; the rootfs tarball is kept
# in $BULKHEAD_TEST_CACHE (default /var/cache/bulkhead-test), so a later run on the same machine
# imports it instead of debootstrapping again. Concurrent runs wait for each other (flock).
# The RUN steps install packages from the Debian mirror: the build needs the network.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
cache="${BULKHEAD_TEST_CACHE:-/var/cache/bulkhead-test}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
base=bulkhead-test/bookworm:base
# Bump when the rootfs changes (debootstrap's options, the tweaks below): a new tarball and base.
rootfs_version=1
rootfs="$cache/$suite-minbase-$rootfs_version.tar"
# directory:tag
images=(postgres:15 redis:7 nginx:1 python:3)

mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
label_of() { docker image inspect --format "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }

# What the official debian:bookworm-slim image sets up for building images: no services started
# by package scripts, dpkg without fsync, no downloaded .debs or translations kept, no
# documentation unpacked (slim).
tweak_rootfs() {
  local dir="$1"
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 0755 "$dir/usr/sbin/policy-rc.d"
  echo 'force-unsafe-io' >"$dir/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
SLIM
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'CLEAN'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CLEAN
  echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
  echo 'APT::Install-Recommends "false";' >"$dir/etc/apt/apt.conf.d/docker-no-recommends"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
    "$dir"/usr/share/doc/*/changelog* "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
}

if [ "$(label_of "$base" dev.bulkhead-test.rootfs)" != "$rootfs_version" ]; then
  if [ ! -s "$rootfs" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
      apt-get update -q
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
    fi
    dir="$(mktemp -d "$cache/rootfs.XXXXXX")"
    trap 'rm -rf "$dir" "$rootfs.tmp"' EXIT
    echo "debian: debootstrap $suite (minbase) from $mirror"
    debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
      tail -30 "$cache/debootstrap.log" >&2
      exit 1
    }
    tweak_rootfs "$dir"
    tar --numeric-owner -C "$dir" -cf "$rootfs.tmp" .
    mv -f "$rootfs.tmp" "$rootfs"
    rm -rf "$dir"
    trap - EXIT
  fi
  echo "debian: importing $rootfs as $base"
  docker import --change 'CMD ["bash"]' --change "LABEL dev.bulkhead-test.rootfs=$rootfs_version" \
    "$rootfs" "$base" >/dev/null
fi
base_id="$(docker image inspect --format '{{.Id}}' "$base")"

# The images whose tag is missing or was built from other inputs, built side by side (most of
# the time goes to the mirror and dpkg, not the CPU).
pids=()
names=()
for entry in "${images[@]}"; do
  name="${entry%%:*}"
  tag="bulkhead-test/$entry"
  context="$here/$name"
  # The inputs: the base image and every file of the context (path, mode, content).
  inputs="$(
    cd "$context"
    {
      echo "$base_id"
      find . -type f -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n %a'
      find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
  )"
  if [ "$(label_of "$tag" dev.bulkhead-test.inputs)" = "$inputs" ]; then
    continue
  fi
  echo "debian: building $tag"
  docker build --label "dev.bulkhead-test.inputs=$inputs" -t "$tag" "$context" \
    >"$cache/build-$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
done
start=$SECONDS
failed=0
for i in "${!pids[@]}"; do
  name="${names[$i]}"
  if wait "${pids[$i]}"; then
    echo "debian: built bulkhead-test/$name after $((SECONDS - start)) s"
  else
    tail -40 "$cache/build-$name.log" >&2
    echo "debian: building bulkhead-test/$name failed (log: $cache/build-$name.log)" >&2
    failed=1
  fi
done
exit "$failed"
