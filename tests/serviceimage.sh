#!/usr/bin/env bash
# serviceimage.sh TYPE TAG: makes a datastore image from Debian's packages
# and imports it into Docker as TAG. No registry is reachable here, so the
# official images (postgres, mariadb, redis) cannot be pulled; these
# stand in for them: the server binaries with their libraries and data
# files, a static busybox for the shell, and an entrypoint that honours the
# official images' environment variables (POSTGRES_PASSWORD, ...) and,
# like them, initialises a new data directory with a server that does not
# listen on TCP. TYPE is postgres, redis or mariadb (or clients: psql and redis-cli for test apps); the packages must be
# installed (tests/run.sh installs them).
set -euo pipefail
type=$1 tag=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# put FILE...: copies files (following symlinks) to the same path in the
# image, with the shared libraries they load.
put() {
	local f lib
	for f in "$@"; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
		for lib in $(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
			if [ ! -e "$root$lib" ]; then
				mkdir -p "$root$(dirname "$lib")"
				cp -L "$lib" "$root$lib"
			fi
		done
	done
}
# tree DIR...: copies directories as they are.
tree() {
	local d
	for d in "$@"; do
		mkdir -p "$root$(dirname "$d")"
		cp -a "$d" "$root$d"
	done
}

mkdir -p "$root/bin" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"
cp "$(command -v busybox)" "$root/bin/busybox"
# util-linux's setpriv drops to the service user (busybox's cannot).
put /usr/bin/setpriv
for applet in sh cat chown chmod mkdir rm id ls echo sleep mktemp printf test env cp; do
	ln -s busybox "$root/bin/$applet"
done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
postgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh
mysql:x:998:998:mysql:/var/lib/mysql:/bin/sh
redis:x:997:997:redis:/data:/bin/sh
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
postgres:x:999:
mysql:x:998:
redis:x:997:
EOF

changes=()
case $type in
postgres)
	pg=$(ls -d /usr/lib/postgresql/*/ | sort -V | tail -n 1)
	pg=${pg%/}
	v=${pg##*/}
	for b in postgres initdb pg_ctl psql pg_dump pg_restore pg_isready; do
		put "$pg/bin/$b"
	done
	for so in "$pg"/lib/*.so; do
		case $so in *llvmjit*) continue ;; esac # JIT pulls in LLVM (100 MB); postgres runs without it
		put "$so"
	done
	tree "/usr/share/postgresql/$v" /usr/share/zoneinfo
	mkdir -p "$root/var/lib/postgresql/data" "$root/var/run/postgresql"
	cat >"$root/entrypoint" <<'EOF'
#!/bin/sh
# Like the official image's docker-entrypoint.sh: root fixes ownership and
# drops to postgres; a new data directory is initialised from
# POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB.
set -e
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec /usr/bin/setpriv --reuid=999 --regid=999 --clear-groups "$0" "$@"
fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_USER:=postgres}"
	: "${POSTGRES_DB:=$POSTGRES_USER}"
	if [ -z "$POSTGRES_PASSWORD" ]; then
		echo "error: POSTGRES_PASSWORD is not set" >&2
		exit 1
	fi
	pw=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
	initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" -E UTF8 --locale=C \
		--auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pw"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
	if [ "$POSTGRES_DB" != postgres ]; then
		psql -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
	fi
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "PostgreSQL init process complete; ready for start up."
fi
exec "$@"
EOF
	changes=(--change "ENV PATH=$pg/bin:/bin" --change 'ENV PGDATA=/var/lib/postgresql/data' --change 'ENV TZ=UTC'
		--change 'ENTRYPOINT ["/entrypoint"]' --change 'CMD ["postgres"]' --change 'EXPOSE 5432')
	;;
redis)
	put /usr/bin/redis-server /usr/bin/redis-cli
	mkdir -p "$root/data"
	cat >"$root/entrypoint" <<'EOF'
#!/bin/sh
# Like the official image: the data directory belongs to redis, which the
# server runs as.
set -e
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	chown -R redis:redis /data
	exec /usr/bin/setpriv --reuid=997 --regid=997 --clear-groups "$@"
fi
exec "$@"
EOF
	changes=(--change 'ENV PATH=/usr/bin:/bin' --change 'WORKDIR /data'
		--change 'ENTRYPOINT ["/entrypoint"]' --change 'CMD ["redis-server"]' --change 'EXPOSE 6379')
	;;
clients)
	# Not a service: a base for test apps that talk to the services.
	pg=$(ls -d /usr/lib/postgresql/*/ | sort -V | tail -n 1)
	put "${pg%/}/bin/psql" /usr/bin/redis-cli
	ln -s "${pg%/}/bin/psql" "$root/bin/psql"
	ln -s /usr/bin/redis-cli "$root/bin/redis-cli"
	for applet in httpd grep sed tr wc head tail nc wget; do
		ln -s busybox "$root/bin/$applet"
	done
	changes=(--change 'ENV PATH=/bin:/usr/bin')
	;;
*)
	echo "serviceimage.sh: unknown type $type (postgres, redis, clients)" >&2
	exit 2
	;;
esac
[ ! -e "$root/entrypoint" ] || chmod 755 "$root/entrypoint"
tar -C "$root" -c . | docker import "${changes[@]}" - "$tag" >/dev/null
