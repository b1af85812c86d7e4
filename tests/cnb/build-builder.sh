#!/usr/bin/env bash
# build-builder.sh makes the Cloud Native Buildpacks builder the pack tests
# build with, in the engine DOCKER_HOST names, with no registry:
#
#   berth-test/run:latest      the run image: a static busybox, a cnb user
#   berth-test/builder:latest  the builder: the same base, the CNB lifecycle
#                              at /cnb/lifecycle (compiled here from the Go
#                              module proxy, pinned in ./go.mod), the shell
#                              buildpack in ./buildpack, order.toml,
#                              run.toml and stack.toml, and the labels a
#                              platform reads (io.buildpacks.builder.metadata)
#
# Both images carry a label with a hash of this directory's files: when the
# builder exists with the same hash, nothing is done (the lifecycle's cold
# compile takes minutes; Go's build cache keeps the next one short).
#
# Needs: docker (the CLI), go, a statically linked busybox (busybox-static).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
builder=${BERTH_TEST_BUILDER:-berth-test/builder:latest}
run=${BERTH_TEST_RUN_IMAGE:-berth-test/run:latest}
uid=1000
gid=1000
stack=io.berth.test

hash=$(cd "$here" && find . -type f ! -name '*~' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
have() { docker image inspect -f '{{index .Config.Labels "io.berth.test.source"}}' "$1" 2>/dev/null || true; }
if [ "$(have "$builder")" = "$hash" ] && [ "$(have "$run")" = "$hash" ]; then
	echo "==> $builder and $run are up to date ($hash)"
	exit 0
fi

busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! file -L "$busybox" | grep -q 'statically linked'; then
	echo "build-builder.sh: a statically linked busybox is needed (apt-get install busybox-static)" >&2
	exit 1
fi
work=$(mktemp -d /tmp/berth-cnb.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

# The lifecycle: one static binary for every phase (creator, detector,
# analyzer, restorer, builder, exporter are names of it) and the launcher,
# which the exporter puts into each app image.
echo "==> compiling the CNB lifecycle ($(grep -m1 'buildpacks/lifecycle v' "$here/go.mod" | awk '{print $2}'))"
mkdir -p "$work/bin"
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/bin/" \
	github.com/buildpacks/lifecycle/cmd/lifecycle github.com/buildpacks/lifecycle/cmd/launcher)
echo "    compiled in $(($(date +%s) - start))s"

# rootfs DIR: busybox with every applet, a cnb user, /tmp.
rootfs() {
	local root=$1
	mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/home/cnb"
	chmod 1777 "$root/tmp"
	cp "$busybox" "$root/bin/busybox"
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\ncnb:x:%s:%s:cnb:/home/cnb:/bin/sh\n' "$uid" "$gid" >"$root/etc/passwd"
	printf 'root:x:0:\ncnb:x:%s:\n' "$gid" >"$root/etc/group"
	chown "$uid:$gid" "$root/home/cnb"
}
# label KEY VALUE: a docker import --change LABEL with VALUE quoted.
label() { printf 'LABEL %s="%s"' "$1" "$(printf '%s' "$2" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }
common=(
	--change "ENV PATH=/bin"
	--change "ENV CNB_USER_ID=$uid"
	--change "ENV CNB_GROUP_ID=$gid"
	--change "ENV CNB_STACK_ID=$stack"
	--change "$(label io.buildpacks.stack.id "$stack")"
	--change "$(label io.buildpacks.base.distro.name busybox)"
	--change "$(label io.buildpacks.base.distro.version "$("$busybox" | head -1 | awk '{print $2}' | tr -d v)")"
	--change "$(label io.berth.test.source "$hash")"
	--change "USER $uid:$gid"
)

echo "==> $run"
rootfs "$work/run"
tar -C "$work/run" -c . | docker import "${common[@]}" - "$run" >/dev/null

echo "==> $builder"
b=$work/builder
rootfs "$b"
mkdir -p "$b/cnb/lifecycle" "$b/cnb/buildpacks/berth-test_shell/0.1.0" "$b/layers" "$b/workspace" "$b/platform/env"
cp "$work/bin/lifecycle" "$work/bin/launcher" "$b/cnb/lifecycle/"
for phase in detector analyzer restorer builder exporter rebaser creator extender; do
	ln -s lifecycle "$b/cnb/lifecycle/$phase"
done
cp -R "$here/buildpack/." "$b/cnb/buildpacks/berth-test_shell/0.1.0/"
cat >"$b/cnb/order.toml" <<'EOF'
[[order]]
  [[order.group]]
    id = "berth-test/shell"
    version = "0.1.0"
EOF
cat >"$b/cnb/run.toml" <<EOF
[[images]]
  image = "$run"
EOF
cat >"$b/cnb/stack.toml" <<EOF
[run-image]
  image = "$run"
EOF
cat >"$b/cnb/lifecycle/lifecycle.toml" <<'EOF'
[apis]
[apis.buildpack]
  deprecated = []
  supported = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12"]
[apis.platform]
  deprecated = []
  supported = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "0.14", "0.15"]
[lifecycle]
  version = "0.21.14"
EOF
chown -R "$uid:$gid" "$b/layers" "$b/workspace"
chmod -R a+rX "$b/cnb"
metadata='{"description":"Berth test builder (busybox, shell buildpack)","buildpacks":[{"id":"berth-test/shell","version":"0.1.0"}],"stack":{"runImage":{"image":"'$run'","mirrors":null}},"runImages":[{"image":"'$run'"}],"lifecycle":{"version":"0.21.14","apis":{"buildpack":{"deprecated":[],"supported":["0.7","0.8","0.9","0.10","0.11","0.12"]},"platform":{"deprecated":[],"supported":["0.7","0.8","0.9","0.10","0.11","0.12","0.13","0.14","0.15"]}}},"createdBy":{"name":"berth tests/cnb/build-builder.sh","version":""}}'
order='[{"group":[{"id":"berth-test/shell","version":"0.1.0"}]}]'
tar -C "$b" -c . | docker import "${common[@]}" \
	--change "WORKDIR /layers" \
	--change "$(label io.buildpacks.builder.metadata "$metadata")" \
	--change "$(label io.buildpacks.buildpack.order "$order")" \
	- "$builder" >/dev/null
echo "==> built $builder and $run in $(($(date +%s) - start))s"
