#!/usr/bin/env bash
# Runs Berth on this machine, setting it up first, as tests/run.sh does for
# the tests: it installs Docker (docker.io) and git where they are missing
# and starts the Docker engine where it is not running, builds ./caddy
# (Caddy with Berth), then runs it:
#
#   ./run.sh                                  the default configuration
#                                             (./Caddyfile): serves at once,
#                                             https://APP.localhost:8443,
#                                             http://APP.localhost:8080,
#                                             git push to ssh://berth@HOST:2222/APP
#   ./run.sh --config /etc/berth/Caddyfile    your own (README "Production")
#
# Arguments go to `caddy run`. With no authorized_keys in the config, the
# admin keys are your ~/.ssh/*.pub (Berth says so in its log; with none it
# says how to make one). Installing and starting Docker needs root: as
# another user this uses sudo, and runs Berth under sudo too unless you may
# use the Docker socket yourself (the docker group), which is root anyway.
set -euo pipefail
cd "$(dirname "$0")"

say() { echo "==> $*" >&2; }
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
	as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
	as_root() { sudo "$@"; }
else
	as_root() { fail "this needs root for: $*; run ./run.sh as root, or install sudo"; }
fi
# An engine answers: to this user (the docker group), or to root.
docker_ok() {
	docker info >/dev/null 2>&1 || { command -v docker >/dev/null 2>&1 && as_root docker info >/dev/null 2>&1; }
}

command -v go >/dev/null 2>&1 || fail "Go is missing: install it (https://go.dev/doc/install), then run ./run.sh again"

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v git >/dev/null 2>&1 || missing+=(git)
if [ ${#missing[@]} -gt 0 ]; then
	command -v apt-get >/dev/null 2>&1 || fail "${missing[*]} missing, and this is not a Debian-like system (no apt-get): install them, then run ./run.sh again"
	say "installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The engine Berth uses is DOCKER_HOST's, else the local socket: start the
# local one where nothing answers there.
if ! docker_ok; then
	[ -z "${DOCKER_HOST:-}" ] || fail "no Docker engine answers at DOCKER_HOST=$DOCKER_HOST: start it, or unset DOCKER_HOST for the local one"
	if [ -d /run/systemd/system ]; then
		say "starting Docker (systemctl enable --now docker)"
		as_root systemctl enable --now docker >/dev/null 2>&1 || true
	fi
	if ! docker_ok; then
		# No init system to run it (a container, WSL): run dockerd
		# in its own session, so that it outlives this script and Berth.
		say "starting dockerd in the background (log: /var/log/berth-dockerd.log)"
		as_root sh -c 'setsid dockerd >>/var/log/berth-dockerd.log 2>&1 < /dev/null &'
	fi
	for _ in $(seq 1 60); do
		docker_ok && break
		sleep 1
	done
	docker_ok || fail "the Docker engine did not start; its log: /var/log/berth-dockerd.log (or journalctl -u docker)"
fi

# go build does nothing when ./caddy is up to date. The first build
# compiles Caddy and all its modules: a few minutes, so count packages.
say "building ./caddy (the first build compiles Caddy and Berth: a few minutes; later ones take seconds)"
n=0
go build -v -o caddy ./cmd/caddy 2>&1 | while IFS= read -r line; do
	case $line in
	*" "* | *:*) echo "$line" >&2 ;; # an error, not a package name
	*)
		n=$((n + 1))
		if [ -t 2 ]; then printf '\r    %d packages compiled' "$n" >&2; fi
		;;
	esac
done
if [ -t 2 ]; then printf '\r\033[K' >&2; fi

if docker info >/dev/null 2>&1; then
	exec ./caddy run "$@"
fi
say "running Berth as root (sudo): $(id -un) may not use the Docker socket; the admin keys are still yours (~/.ssh/*.pub)"
# sudo drops the environment: keep what the Caddyfiles and Berth read.
keep=()
while IFS= read -r v; do keep+=("$v"); done < <(env | grep -E '^(BERTH_[A-Z_]+|DOCKER_HOST)=' || true)
exec sudo env "${keep[@]}" ./caddy run "$@"
