#!/usr/bin/env bash
# Runs Berth's whole test suite on a Debian machine, setting it up first:
# installs what is missing (Docker, git, the OpenSSH client, Chromium for
# the dashboard's browser test, a static busybox for the test base image,
# and PostgreSQL, MariaDB and Redis,
# whose binaries tests/serviceimage.sh makes the datastore test images
# of), then runs every Go test with the race detector, the end-to-end
# suite included, against a private Docker engine of its own: a dockerd
# with a fresh, empty data root, its own socket, exec root, bridge and
# address pool, started here and removed on the way out (failure and
# Ctrl-C included). So no run depends on what an earlier run, or a
# developer, left in an engine, and the machine's own engine (if any) is
# never touched. It needs root for that. No Docker means a failed run,
# never a skipped test.
#
#   BERTH_TEST_POOL=172.29.0.0/16  the private engine's addresses (a /16;
#                                  its default bridge takes the last /24)
#   BERTH_TEST_USE_ENGINE=1        use the engine DOCKER_HOST names instead,
#                                  which must be empty (.ci/run never does)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v file >/dev/null 2>&1 || missing+=(file)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# The dashboard's browser test (tests/browser_test.go) drives Debian's
# Chromium; without it that test fails, it never skips.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# progress.txtar gives caddy berth a terminal with script(1).
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
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

if [ -n "${BERTH_TEST_USE_ENGINE:-}" ]; then
	docker info >/dev/null 2>&1 || { echo "FAIL: BERTH_TEST_USE_ENGINE is set but no engine answers at ${DOCKER_HOST:-the local socket}" >&2; exit 1; }
	echo "==> using the engine at ${DOCKER_HOST:-the local socket} (BERTH_TEST_USE_ENGINE)"
else
	if [ "$(id -u)" -ne 0 ]; then
		echo "FAIL: the tests start a private, empty Docker engine, which needs root (or set BERTH_TEST_USE_ENGINE=1 and DOCKER_HOST to an empty engine)" >&2
		exit 1
	fi
	pool=${BERTH_TEST_POOL:-172.29.0.0/16}
	if ! [[ $pool =~ ^([0-9]+)\.([0-9]+)\.0\.0/16$ ]]; then
		echo "FAIL: BERTH_TEST_POOL must be a /16 such as 172.29.0.0/16, not $pool" >&2
		exit 1
	fi
	prefix=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}
	# Another engine's networks (or anything else routed) in that range
	# would collide with the private engine's.
	if ip -4 route show | grep -q "^$prefix\."; then
		echo "FAIL: addresses in $pool are in use here:" >&2
		ip -4 route show | grep "^$prefix\." >&2
		echo "set BERTH_TEST_POOL to a free /16 (such as 172.28.0.0/16)" >&2
		exit 1
	fi
	engine=$(mktemp -d /tmp/berth-tests-engine.XXXXXX)
	sock=$engine/docker.sock
	br=brt$$
	br=${br:0:15}
	# The machine's engine (if any) sets the FORWARD policy to DROP and
	# allows its own bridges only: let the private engine's containers
	# reach each other and, masqueraded, the outside (DNS answers).
	fw() {
		iptables "$1" FORWARD -s "$pool" -j ACCEPT &&
			iptables "$1" FORWARD -d "$pool" -j ACCEPT &&
			iptables -t nat "$1" POSTROUTING -s "$pool" ! -d "$pool" -j MASQUERADE
	}
	stop_engine() {
		trap - EXIT INT TERM
		echo "==> removing the private Docker engine"
		DOCKER_HOST=unix://$sock docker ps -aq 2>/dev/null | xargs -r env DOCKER_HOST=unix://$sock docker rm -f >/dev/null 2>&1 || true
		# A network's bridge outlives the engine that made it (dockerd
		# leaves them on shutdown), and its route would make the next
		# run refuse the pool: remove the networks, then any bridge still
		# holding an address of the pool.
		DOCKER_HOST=unix://$sock docker network prune -f >/dev/null 2>&1 || true
		[ -z "${dockerd_pid:-}" ] || { kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null; } || true
		ip link del "$br" 2>/dev/null || true
		ip -4 -o addr show 2>/dev/null | awk -v p="$prefix." '$2 ~ /^br-/ && index($4, p) == 1 {print $2}' |
			while read -r dev; do ip link del "$dev" 2>/dev/null || true; done
		fw -D 2>/dev/null || true
		umount -R "$engine/data" "$engine/exec" 2>/dev/null || true
		rm -rf "$engine" 2>/dev/null || true
	}
	trap stop_engine EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ip link add "$br" type bridge
	ip addr add "$prefix.255.1/24" dev "$br"
	ip link set "$br" up
	fw -I 2>/dev/null || true
	echo "==> starting a private, empty Docker engine at unix://$sock (addresses $pool, log: $engine/dockerd.log)"
	# --iptables=false: the machine's engine owns the DOCKER chains; the
	# rules this engine needs are fw's. Its networks come from the first
	# half of the pool, its default bridge is the last /24.
	# Its own session: a Ctrl-C reaches the tests, and the engine is then
	# taken down here, in order.
	setsid dockerd --data-root "$engine/data" --exec-root "$engine/exec" --pidfile "$engine/dockerd.pid" \
		-H "unix://$sock" --bridge="$br" --iptables=false --ip-masq=false \
		--default-address-pool "base=$prefix.0.0/17,size=24" >"$engine/dockerd.log" 2>&1 &
	dockerd_pid=$!
	export DOCKER_HOST=unix://$sock
	for _ in $(seq 1 60); do
		docker info >/dev/null 2>&1 && break
		sleep 1
	done
	if ! docker info >/dev/null 2>&1; then
		echo "FAIL: the private dockerd did not start; its log:" >&2
		tail -n 30 "$engine/dockerd.log" >&2
		exit 1
	fi
fi

echo "==> go vet"
go vet ./...
# Every fuzz target for a short time (tests/fuzz.sh finds them); not when
# the caller picked tests with arguments. It runs before the test suite so
# that go test's summary is the last thing printed, and its failure is
# reported after the suite has run too.
fuzz_rc=0
if [ $# -eq 0 ]; then
	echo "==> fuzzing (tests/fuzz.sh, ${FUZZTIME:-3s} a target)"
	FUZZTIME=${FUZZTIME:-3s} ./tests/fuzz.sh || fuzz_rc=$?
fi
echo "==> go test -race"
# -parallel 4: the end-to-end scripts mostly wait (for Docker, for a
# container's checks), so four at a time on 2 cores finish sooner than
# two (Go's default, GOMAXPROCS): 1018 s for the e2e package at a load of
# 15-20 from other work, against 1161 s with two on a quieter machine.
# -timeout 45m: the end-to-end package ran 28 min on a machine shared
# with other work (load 4-20), 13-17 min on a quiet one; go test's
# default 10m, or 30m, would cut a slow machine's run short.
# Not exec: the private engine is removed when the tests end.
go test -race -count=1 -timeout 45m -parallel 4 ./... "$@"
if [ "$fuzz_rc" -ne 0 ]; then
	echo "FAIL: tests/fuzz.sh found an input that breaks a parser (its output is above)" >&2
	exit 1
fi
