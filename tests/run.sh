#!/usr/bin/env bash
# Runs Berth's whole test suite on a Debian machine, setting it up first:
# installs what is missing (Docker, git, the OpenSSH client, a static
# busybox for the test base image, and PostgreSQL, MariaDB and Redis,
# whose binaries tests/serviceimage.sh makes the datastore test images
# of), starts dockerd when no engine answers, then runs every Go test
# with the race detector, the end-to-end suite included. No Docker means
# a failed run, never a skipped test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v file >/dev/null 2>&1 || missing+=(file)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if ! file -L "$(command -v busybox 2>/dev/null || echo /nonexistent)" 2>/dev/null | grep -q 'statically linked'; then
	missing+=(busybox-static)
fi
ls /usr/lib/postgresql/*/bin/pg_dump >/dev/null 2>&1 || missing+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
	echo "==> installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "FAIL: ${missing[*]} missing and not root: install them, then run this again" >&2
		exit 1
	fi
	apt-get update -qq
	# The database packages are wanted for their binaries only: keep their
	# services from starting (and failing without an init system) while
	# they install.
	made_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		made_policy=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	[ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

if ! docker info >/dev/null 2>&1; then
	echo "==> starting dockerd (log: /tmp/berth-dockerd.log)"
	nohup dockerd >/tmp/berth-dockerd.log 2>&1 &
	for _ in $(seq 1 60); do
		docker info >/dev/null 2>&1 && break
		sleep 1
	done
	if ! docker info >/dev/null 2>&1; then
		echo "FAIL: dockerd did not start; its log:" >&2
		tail -n 30 /tmp/berth-dockerd.log >&2
		exit 1
	fi
fi

echo "==> go vet"
go vet ./...
echo "==> go test -race"
go test -race -count=1 -timeout 30m ./... "$@"
