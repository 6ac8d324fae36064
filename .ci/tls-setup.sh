#!/usr/bin/env bash
# Gives the local PostgreSQL TLS for the relay's database TLS tests: a throwaway CA and a server
# certificate for 127.0.0.1/localhost in $OUTBOX_TLS_DIR (default /var/lib/postgresql/outboxkit-tls),
# then ssl = on through ALTER SYSTEM + pg_reload_conf(). Plain connections keep working (pg_hba
# is untouched: `host` lines accept TLS and plaintext). Idempotent and quick when already done.
# MariaDB is not touched: its ssl_* variables are read-only in 10.11 (a restart), so the tests run
# a mariadbd of their own with TLS. Prints the directory holding ca.pem.
set -euo pipefail
dir=${OUTBOX_TLS_DIR:-/var/lib/postgresql/outboxkit-tls}
pg_url=${OUTBOX_PG_URL:-postgres://postgres@127.0.0.1:5432/test}

if [ ! -s "$dir/server.key" ] || ! openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" >/dev/null 2>&1; then
  mkdir -p "$dir"
  tmp=$(mktemp -d)
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=outboxkit test CA' \
    -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$tmp/ext.cnf"
  openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 3650 \
    -extfile "$tmp/ext.cnf" -out "$tmp/server.pem" 2>/dev/null
  install -m 0644 "$tmp/ca.pem" "$dir/ca.pem"
  install -m 0644 "$tmp/server.pem" "$dir/server.pem"
  install -m 0600 "$tmp/server.key" "$dir/server.key"
  rm -rf "$tmp"
fi
# The server reads the key as its own user and refuses a key others can read.
if id postgres >/dev/null 2>&1; then
  chown postgres "$dir" "$dir/server.key" "$dir/server.pem" "$dir/ca.pem"
fi
chmod 0755 "$dir"
chmod 0600 "$dir/server.key"

current=$(psql "$pg_url" -XAtc "SELECT current_setting('ssl') || ' ' || current_setting('ssl_cert_file')")
if [ "$current" != "on $dir/server.pem" ]; then
  psql "$pg_url" -Xq -v ON_ERROR_STOP=1 \
    -c "ALTER SYSTEM SET ssl_cert_file = '$dir/server.pem'" \
    -c "ALTER SYSTEM SET ssl_key_file = '$dir/server.key'" \
    -c "ALTER SYSTEM SET ssl = on" \
    -c "SELECT pg_reload_conf()" >/dev/null
  # The reload is asynchronous: wait until new sessions see it.
  for _ in $(seq 1 50); do
    [ "$(psql "$pg_url" -XAtc "SHOW ssl")" = on ] && break
    sleep 0.1
  done
fi
[ "$(psql "$pg_url" -XAtc "SHOW ssl")" = on ] || { echo "error: PostgreSQL did not turn ssl on (see its log)" >&2; exit 1; }
echo "$dir"
