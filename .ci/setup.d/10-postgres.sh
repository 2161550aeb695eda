# shellcheck shell=bash
# PostgreSQL for the store tests. Sourced by .ci/run (also fine to source by hand): installs Debian's postgresql when
# initdb is missing, runs a throwaway cluster on 127.0.0.1 (reused when an earlier run left one up) and exports
# MIDORI_TEST_PG as an Npgsql connection string. Uses `return`, never `exit`, because it is sourced.

midori_pg_setup() {
  local state=${MIDORI_PG_DIR:-/tmp/midori-ci-postgres}
  local bindir port as_pg=()

  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "postgres: installing postgresql with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >/dev/null 2>&1 \
      || { echo "postgres: apt-get install postgresql failed"; return 1; }
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -x "$bindir/initdb" ] || { echo "postgres: initdb not found after install"; return 1; }
  fi

  # The server refuses to run as root: run it as the postgres OS user (created by the package) when we are root.
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres || return 1
    as_pg=(runuser -u postgres --)
  fi

  # Reuse a cluster an earlier run (or an earlier source of this script) left running.
  if [ -f "$state/port" ] && "$bindir/pg_isready" -q -h 127.0.0.1 -p "$(cat "$state/port")"; then
    port=$(cat "$state/port")
  else
    [ -f "$state/data/postmaster.pid" ] && "${as_pg[@]}" "$bindir/pg_ctl" -D "$state/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$state"
    mkdir -p "$state" || return 1
    [ ${#as_pg[@]} -gt 0 ] && chown postgres "$state"
    "${as_pg[@]}" "$bindir/initdb" -D "$state/data" -U postgres -A trust -E UTF8 --no-locale >"$state/initdb.log" 2>&1 \
      || { echo "postgres: initdb failed"; cat "$state/initdb.log"; return 1; }

    # First free port from 55432 up (a refused connection means nobody listens there).
    for port in $(seq 55432 55632); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
    done

    # fsync off: a CI cluster is thrown away, durability across OS crashes does not matter there.
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$state/data" -l "$state/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $state -c fsync=off -c max_connections=200" start >/dev/null \
      || { echo "postgres: server did not start"; tail -n 20 "$state/server.log"; return 1; }
    echo "$port" >"$state/port"
  fi

  local i
  for i in $(seq 1 60); do
    "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 1
  done
  "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" || { echo "postgres: not ready on port $port"; return 1; }

  if ! "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'midori_test'" | grep -q 1; then
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres midori_test || { echo "postgres: createdb failed"; return 1; }
  fi

  export MIDORI_TEST_PG="Host=127.0.0.1;Port=$port;Username=postgres;Database=midori_test"
  echo "postgres: ready on 127.0.0.1:$port ($("$bindir/postgres" --version)); MIDORI_TEST_PG exported"
}

midori_pg_setup
midori_pg_status=$?
unset -f midori_pg_setup
return $midori_pg_status 2>/dev/null || exit $midori_pg_status
