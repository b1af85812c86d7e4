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
	# The official image has redis-check-rdb too (the same binary, by name).
	ln -s redis-server "$root/usr/bin/redis-check-rdb"
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
mariadb)
	put /usr/sbin/mariadbd /usr/bin/mariadb /usr/bin/mariadb-dump /usr/bin/mariadb-admin
	ln -s mariadb "$root/usr/bin/mysql"
	ln -s mariadb-dump "$root/usr/bin/mysqldump"
	for so in /usr/lib/mysql/plugin/*.so; do
		put "$so"
	done
	tree /usr/share/mysql
	mkdir -p "$root/var/lib/mysql" "$root/run/mysqld"
	cat >"$root/entrypoint" <<'EOF'
#!/bin/sh
# Like the official image's docker-entrypoint.sh: a new data directory is
# made with the system tables, then a server that does not listen on TCP
# sets the root password and makes MYSQL_DATABASE and MYSQL_USER. The
# server runs as mysql (mariadbd drops to it).
set -e
if [ "$1" = mariadbd ]; then
	mkdir -p /var/lib/mysql /run/mysqld
	chown -R mysql:mysql /var/lib/mysql /run/mysqld
	if [ ! -d /var/lib/mysql/mysql ]; then
		root_pw=${MARIADB_ROOT_PASSWORD:-$MYSQL_ROOT_PASSWORD}
		db=${MARIADB_DATABASE:-$MYSQL_DATABASE}
		user=${MARIADB_USER:-$MYSQL_USER}
		pw=${MARIADB_PASSWORD:-$MYSQL_PASSWORD}
		if [ -z "$root_pw" ]; then
			echo "error: MYSQL_ROOT_PASSWORD is not set" >&2
			exit 1
		fi
		{
			echo "create database if not exists mysql;"
			echo "use mysql;"
			echo "SET @auth_root_socket=NULL;"
			cd /usr/share/mysql
			cat mysql_system_tables.sql mysql_performance_tables.sql mysql_system_tables_data.sql \
				fill_help_tables.sql maria_add_gis_sp_bootstrap.sql mysql_sys_schema.sql
		} | mariadbd --bootstrap --user=mysql --datadir=/var/lib/mysql --log-warnings=0 \
			--enforce-storage-engine="" --max_allowed_packet=8M --net_buffer_length=16K >/dev/null
		mariadbd --user=mysql --skip-networking --socket=/run/mysqld/mysqld.sock &
		i=0
		until mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1; do
			i=$((i + 1))
			if [ $i -gt 120 ]; then
				echo "error: the init server did not start" >&2
				exit 1
			fi
			sleep 0.5
		done
		{
			echo "DELETE FROM mysql.user WHERE user='';"
			echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_pw';"
			echo "CREATE USER 'root'@'%' IDENTIFIED BY '$root_pw';"
			echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
			if [ -n "$db" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$db\`;"; fi
			if [ -n "$user" ]; then
				echo "CREATE USER '$user'@'%' IDENTIFIED BY '$pw';"
				if [ -n "$db" ]; then echo "GRANT ALL ON \`$db\`.* TO '$user'@'%';"; fi
			fi
			echo "FLUSH PRIVILEGES;"
		} | mariadb -uroot
		MYSQL_PWD=$root_pw mariadb-admin -uroot shutdown
		wait
		echo "MariaDB init process done. Ready for start up."
	fi
	shift
	exec mariadbd --user=mysql "$@"
fi
exec "$@"
EOF
	changes=(--change 'ENV PATH=/usr/sbin:/usr/bin:/bin' --change 'ENTRYPOINT ["/entrypoint"]' --change 'CMD ["mariadbd"]'
		--change 'EXPOSE 3306')
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
	echo "serviceimage.sh: unknown type $type (postgres, redis, mariadb, clients)" >&2
	exit 2
	;;
esac
[ ! -e "$root/entrypoint" ] || chmod 755 "$root/entrypoint"
tar -C "$root" -c . | docker import "${changes[@]}" - "$tag" >/dev/null
