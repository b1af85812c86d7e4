#!/usr/bin/env bash
# herokuish/build-image.sh TAG: makes a stand-in for the herokuish image
# (gliderlabs/herokuish) and imports it into Docker as TAG. No registry is
# reachable where the tests run, so the real image (Ubuntu, bash, Heroku's
# buildpacks) cannot be pulled; this one is a static busybox with /build,
# /start and /exec that follow herokuish's contract (paths /tmp/app,
# /tmp/cache, /tmp/env, /app; BUILDPACK_URL and .buildpacks; the
# buildpack API's bin/detect, bin/compile and bin/release; /start TYPE
# runs the Procfile's entry) and one buildpack, static (buildpacks/).
set -euo pipefail
tag=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

busybox=$(command -v busybox)
if ! file -L "$busybox" | grep -q 'statically linked'; then
	echo "$busybox is not statically linked; install busybox-static" >&2
	exit 1
fi
mkdir -p "$root/bin" "$root/tmp/buildpacks" "$root/etc/profile.d" "$root/app"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in sh cat cp cut echo env grep head httpd ls mkdir mv nc rm sed sha256sum sleep sort tr true false wget xargs; do
	ln -s busybox "$root/bin/$applet"
done
for f in build start exec; do
	install -m 0755 "$here/$f" "$root/$f"
done
cp -r "$here/buildpacks/." "$root/tmp/buildpacks/"
chmod 0755 "$root"/tmp/buildpacks/*/bin/*
tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' --change 'ENV STACK=heroku-24' - "$tag" >/dev/null
