# A PostgreSQL server (Debian's) for the release-phase tests, on a Docker network this script
# creates (`bga-pg`): the server listens on the network's gateway address only, so the app's
# containers on that network reach it and nothing else does. Its own data directory under
# $BLUEGREEN_TEST_STATE, trust authentication for that network. Reused when already running,
# or when a server already answers on that address (another checkout's).
# Exports BLUEGREEN_TEST_PG_NETWORK, BLUEGREEN_TEST_PG_HOST, BLUEGREEN_TEST_PG_PORT.
: "${BLUEGREEN_TEST_STATE:?run scripts/test (it exports BLUEGREEN_TEST_STATE)}"
bga_pg_start() {
  local net=bga-pg bin data gw port
  export BLUEGREEN_TEST_PG_NETWORK="$net"
  port="${BLUEGREEN_TEST_PG_PORT:-15432}"
  export BLUEGREEN_TEST_PG_PORT="$port"
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -x "$bin/initdb" ] || { echo "PostgreSQL not found: run scripts/install-deps" >&2; return 1; }
  docker network inspect "$net" >/dev/null 2>&1 || docker network create "$net" >/dev/null || return 1
  gw="$(docker network inspect "$net" -f '{{(index .IPAM.Config 0).Gateway}}')" || return 1
  export BLUEGREEN_TEST_PG_HOST="$gw"
  data="$BLUEGREEN_TEST_STATE/pg"
  pg() { runuser -u postgres -- "$@"; }
  if pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    [ "$(cat "$data/listening" 2>/dev/null)" = "$gw:$port" ] && return 0
    pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || return 1
  fi
  # Another checkout's server (another state directory) on the same network and port serves
  # just as well: each test keeps to tables of its own.
  "$bin/pg_isready" -q -h "$gw" -p "$port" && return 0
  if [ ! -f "$data/PG_VERSION" ]; then
    rm -rf "$data" && mkdir -p "$data" && chown postgres "$data" || return 1
    pg "$bin/initdb" -D "$data" -A trust -U postgres >"$BLUEGREEN_TEST_STATE/pg-initdb.log" 2>&1 \
      || { cat "$BLUEGREEN_TEST_STATE/pg-initdb.log" >&2; return 1; }
    echo "host all all samenet trust" >>"$data/pg_hba.conf"
  fi
  pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-c listen_addresses=$gw -p $port -k $data" start >/dev/null \
    || { cat "$data/server.log" >&2; return 1; }
  echo "$gw:$port" | pg tee "$data/listening" >/dev/null
}
bga_pg_start || { echo "starting PostgreSQL failed" >&2; exit 1; }
