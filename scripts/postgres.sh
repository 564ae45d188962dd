#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the tests: scripts/test.sh uses it around `cargo test`.
#
#   bash scripts/postgres.sh install    installs Debian's postgresql-15 if its initdb/pg_ctl are
#                                       missing (idempotent); never creates nor starts Debian's
#                                       own "main" cluster
#   bash scripts/postgres.sh start DIR  makes a cluster in DIR (empty or absent; a temporary
#                                       folder), starts it on 127.0.0.1 on a free port and prints
#                                       one line on stdout: postgres://agent_track@127.0.0.1:PORT/agent_track_test
#   bash scripts/postgres.sh stop DIR   stops that cluster (immediate) and removes DIR; idempotent
#
# The server offers TLS with a throwaway CA made by openssl at start: DIR/tls/ca.pem signs its
# certificate (for 127.0.0.1 and localhost), DIR/tls/other-ca.pem is an unrelated CA (for tests
# of a refused certificate). The URL has no sslmode, so clients use TLS (prefer).
#
# The server never runs as root: as root (CI) the cluster belongs to the `postgres` system user
# that Debian's package creates (commands run through runuser); run by anyone else, it belongs to
# that user. It listens on 127.0.0.1 only, with `trust` authentication: over TCP only as the
# tests' role, which any local process may then use (fine for a throwaway cluster of test data,
# and the URL holds no secret); the superuser only through the unix socket inside DIR (0700).
# fsync is off: a crash loses the cluster, never data anyone wants. The role `agent_track` may
# create databases (the tests make one per test) and, as their owner, the trusted extension
# pg_trgm; it is not a superuser, so the tests cannot rely on superuser rights.
set -euo pipefail

PG_MAJOR=15
ROLE=agent_track
DATABASE=agent_track_test
START_TIMEOUT=${AGENT_TRACK_PG_START_TIMEOUT:-20}
MARKER=.agent-track-postgres

log() { printf '[postgres] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The binaries of PostgreSQL 15 as Debian installs them; any other major version is used only
# with a loud warning (see check_version).
bindir() {
  if [ -x "/usr/lib/postgresql/$PG_MAJOR/bin/initdb" ]; then
    echo "/usr/lib/postgresql/$PG_MAJOR/bin"
    return
  fi
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

have_binaries() {
  local dir
  dir=$(bindir) || return 1
  [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && [ -x "$dir/psql" ]
}

check_version() {
  local dir version major
  dir=$(bindir)
  version=$("$dir/postgres" --version)
  major=$(printf '%s\n' "$version" | sed -E 's/^[^0-9]*([0-9]+).*/\1/')
  if [ "$major" != "$PG_MAJOR" ]; then
    log "WARNING: $dir/postgres is PostgreSQL $major ($version), not $PG_MAJOR: the project targets $PG_MAJOR"
  fi
  local share
  share=$("$dir/pg_config" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$major")
  [ -f "$share/extension/pg_trgm.control" ] || die "pg_trgm is missing ($share/extension/pg_trgm.control); Debian's postgresql-$major ships it"
  log "$version in $dir"
}

cmd_install() {
  if ! have_binaries; then
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null || die "PostgreSQL $PG_MAJOR is not installed, and installing it needs root (no sudo here)"
      sudo=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    log "installing Debian's postgresql-$PG_MAJOR (without creating or starting its main cluster)"
    $sudo apt-get update -qq
    # postgresql-common first, so that its createcluster.conf can say not to make the "main"
    # cluster that the server package's postinst otherwise creates (and, with systemd, starts).
    $sudo apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
    $sudo sed -i -E 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' \
      /etc/postgresql-common/createcluster.conf
    grep -qx 'create_main_cluster = false' /etc/postgresql-common/createcluster.conf ||
      echo 'create_main_cluster = false' | $sudo tee -a /etc/postgresql-common/createcluster.conf >/dev/null
    if apt-cache show "postgresql-$PG_MAJOR" >/dev/null 2>&1; then
      $sudo apt-get install -y -qq --no-install-recommends "postgresql-$PG_MAJOR" >/dev/null
    else
      log "WARNING: no postgresql-$PG_MAJOR package here; installing Debian's default postgresql"
      $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    fi
    have_binaries || die "apt-get installed PostgreSQL, but initdb/pg_ctl/postgres/psql are not under /usr/lib/postgresql/*/bin"
  fi
  if ! command -v openssl >/dev/null; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    log "installing openssl (the test cluster's TLS certificates)"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends openssl >/dev/null
  fi
  check_version
}

# A throwaway CA in DIR/tls (ca.pem, and an unrelated other-ca.pem) and the server's key and
# certificate, signed by it for 127.0.0.1 and localhost, in the data folder. EC P-256, valid
# for 2 days: the cluster lives for one test run.
make_tls() {
  local tls=$1/tls data=$2
  command -v openssl >/dev/null || die "openssl is missing: run 'bash scripts/postgres.sh install'"
  mkdir -p "$tls"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  local ca=(-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign")
  openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=agent-track test CA" "${ca[@]}" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null || die "openssl could not make the test CA"
  openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=another CA" "${ca[@]}" \
    -keyout "$tls/other-ca.key" -out "$tls/other-ca.pem" 2>/dev/null || die "openssl could not make the second CA"
  openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$data/server.key" -out "$tls/server.csr" 2>/dev/null ||
    die "openssl could not make the server key"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 2 -extfile "$tls/server.ext" -out "$data/server.crt" 2>/dev/null || die "openssl could not sign the server certificate"
  rm -f "$tls/ca.key" "$tls/other-ca.key" "$tls/server.csr" "$tls/server.ext" "$tls/ca.srl"
  chmod 600 "$data/server.key"
  chmod 755 "$tls"
  chmod 644 "$tls/ca.pem" "$tls/other-ca.pem"
}

# Runs a command as the cluster's owner: the postgres system user when we are root (the server
# refuses to run as root), ourselves otherwise. Always from /, which every user may enter.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u "$OWNER" -- "$@")
  else
    (cd / && "$@")
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
  local port
  for _ in $(seq 100); do
    # 20000-32767: below Linux's ephemeral range (32768-60999), so no outgoing connection holds it.
    port=$((20000 + RANDOM % 12768))
    port_in_use "$port" || { echo "$port"; return; }
  done
  die "found no free port on 127.0.0.1"
}

cmd_start() {
  local dir=${1:?usage: postgres.sh start DIR}
  have_binaries || die "PostgreSQL is not installed: run 'bash scripts/postgres.sh install' first"
  local bin
  bin=$(bindir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty (a cluster from an earlier start? 'bash scripts/postgres.sh stop $dir')"
  # The marker lets `stop` remove the folder without risking one that start did not make.
  # A unix socket path is at most 107 bytes: DIR/.s.PGSQL.PORT must fit.
  [ "${#dir}" -le 88 ] || die "$dir is too long for a unix socket path: use a shorter folder (mktemp -d)"
  touch "$dir/$MARKER"
  chmod 700 "$dir"

  if [ "$(id -u)" = 0 ]; then
    OWNER=postgres
    id "$OWNER" >/dev/null 2>&1 || die "no '$OWNER' system user (Debian's postgresql-common creates it): run install"
    chown "$OWNER:" "$dir"
    runuser -u "$OWNER" -- test -w "$dir" ||
      die "user $OWNER cannot reach $dir (a parent folder closed to others?): use a folder under /tmp"
  else
    OWNER=$(id -un)
  fi

  local data=$dir/data logfile=$dir/server.log
  if ! as_owner "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed in $data"
  fi
  make_tls "$dir" "$data"
  # The socket (inside DIR, 0700) for the superuser; TCP on loopback for the tests' role only.
  cat >"$data/pg_hba.conf" <<EOF
local all all                 trust
host  all $ROLE 127.0.0.1/32 trust
EOF

  local port started="" out=""
  for attempt in 1 2 3 4 5; do
    port=$(pick_port)
    cat >"$data/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
max_parallel_workers_per_gather = 0
logging_collector = off
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
EOF
    if [ "$(id -u)" = 0 ]; then chown -R "$OWNER:" "$dir"; fi
    if out=$(as_owner "$bin/pg_ctl" start -D "$data" -l "$logfile" -w -t "$START_TIMEOUT" -s 2>&1); then
      started=1
      break
    fi
    # Another process took the port between the check and the bind: try another one.
    if grep -q 'could not bind\|Address already in use' "$logfile" 2>/dev/null; then
      log "port $port was taken (attempt $attempt), trying another"
      as_owner "$bin/pg_ctl" stop -D "$data" -m immediate -s >/dev/null 2>&1 || true
      continue
    fi
    break
  done
  if [ -z "$started" ]; then
    [ -z "$out" ] || log "pg_ctl: $out"
    log "the server did not start (pg_ctl waits up to ${START_TIMEOUT}s); its log ($logfile):"
    cat "$logfile" >&2 2>/dev/null || true
    as_owner "$bin/pg_ctl" stop -D "$data" -m immediate -s >/dev/null 2>&1 || true
    die "PostgreSQL did not start in $dir"
  fi

  # The role and database, over the socket as the bootstrap superuser.
  as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
    -c "CREATE ROLE $ROLE LOGIN CREATEDB" \
    -c "CREATE DATABASE $DATABASE OWNER $ROLE" >&2 ||
    die "could not create the role $ROLE and the database $DATABASE (server log: $logfile)"

  # The URL as the tests will use it: TCP to 127.0.0.1, as the role; and pg_trgm can be created
  # by that role (in a transaction rolled back, so the database stays empty).
  local url="postgres://$ROLE@127.0.0.1:$port/$DATABASE"
  "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$url" \
    -c 'BEGIN' -c 'CREATE EXTENSION pg_trgm' -c 'ROLLBACK' >&2 ||
    die "the role $ROLE cannot connect to $url or create the extension pg_trgm (server log: $logfile)"

  log "started $("$bin/postgres" --version | sed "s/^postgres (PostgreSQL)/PostgreSQL/") as $OWNER in $dir, port $port"
  printf '%s\n' "$url"
}

cmd_stop() {
  local dir=${1:?usage: postgres.sh stop DIR}
  [ -e "$dir" ] || return 0
  [ -d "$dir" ] || die "$dir is not a folder"
  if [ ! -e "$dir/$MARKER" ]; then
    # Only remove a folder that start made (or an empty one: start failed before the marker).
    [ -z "$(ls -A "$dir")" ] || die "$dir was not made by 'postgres.sh start': not removing it"
    rmdir "$dir"
    return 0
  fi
  local data=$dir/data
  if [ -f "$data/postmaster.pid" ]; then
    local pid
    pid=$(head -n 1 "$data/postmaster.pid")
    OWNER=$(stat -c %U "$data")
    local bin
    if bin=$(bindir) && as_owner "$bin/pg_ctl" stop -D "$data" -m immediate -w -s >/dev/null 2>&1; then
      :
    elif [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      log "pg_ctl could not stop the server; killing postmaster $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  *)
    echo "usage: bash scripts/postgres.sh install | start DIR | stop DIR" >&2
    exit 2
    ;;
esac
