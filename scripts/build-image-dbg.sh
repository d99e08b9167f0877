#!/bin/sh
# Build pymaccounter/python:3.11-dbg: the base image (scripts/build-image.sh)
# with Debian's python3.11-dbg inside it, at exactly the version of the
# image's python3.11, so the interpreter's build-id has its debug file under
# the container's own /usr/lib/debug/.build-id/. Containers have no network:
# the .debs are fetched on the host with apt-get download and installed with
# dpkg -i in a container of the base image, which is then committed.
# Cached: an existing image is kept unless --force is given.
#
# When the mirror has no python3.11-dbg at the image's version, the whole
# python3.11 set is installed at the version the mirror offers instead.
#
# Exit status: 0 built or cached, 3 a package is not available (the one
# line on stderr says which), 1 anything else.
#
# usage: scripts/build-image-dbg.sh [--force]
# (PYMAC_IMAGE names the base image, PYMAC_DBG_IMAGE the one made)
set -u

BASE=${PYMAC_IMAGE:-pymaccounter/python:3.11}
IMAGE=${PYMAC_DBG_IMAGE:-pymaccounter/python:3.11-dbg}
HERE=$(cd "$(dirname "$0")" && pwd)

die() {
	echo "build-image-dbg: $*" >&2
	exit 1
}

unavailable() {
	echo "build-image-dbg: unavailable: $*" >&2
	exit 3
}

case "${1:-}" in
--force | "") ;;
*)
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac

# Also checks that the engine answers; cached, it takes a few milliseconds.
sh "$HERE/build-image.sh" --image "$BASE" || die "scripts/build-image.sh failed"

if [ "${1:-}" != --force ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
	echo "build-image-dbg: $IMAGE exists (use --force to rebuild)"
	exit 0
fi

start=$(date +%s)
have=$(docker run --rm --network none "$BASE" dpkg-query -W -f='${Version}' python3.11 2>/dev/null)
[ -n "$have" ] || die "$BASE has no python3.11 package"

# apt-get download needs the host's package lists; refresh them once when
# they do not know the version asked for.
known() {
	# apt-cache show exits 0, printing nothing, for an unknown version
	apt-cache show "$1=$2" 2>/dev/null | grep -q '^Package:'
}
if ! known python3.11-dbg "$have" && [ -z "${PYMAC_NO_APT_UPDATE:-}" ]; then
	apt-get update -qq >/dev/null 2>&1 || true
fi

if known python3.11-dbg "$have" && known libpython3.11-dbg "$have"; then
	version=$have
	pkgs="python3.11-dbg libpython3.11-dbg"
else
	version=$(apt-cache policy python3.11-dbg 2>/dev/null | awk '/Candidate:/ { print $2 }')
	if [ -z "$version" ] || [ "$version" = "(none)" ]; then
		unavailable "python3.11-dbg (for $BASE's python3.11 $have): no version in the host's apt sources"
	fi
	pkgs="python3.11 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3.11-dbg libpython3.11-dbg"
	for p in $pkgs; do
		known "$p" "$version" || unavailable "$p=$version (python3.11-dbg's version; $BASE has python3.11 $have)"
	done
	echo "build-image-dbg: no python3.11-dbg=$have on the mirror; installing the python3.11 set at $version"
fi

DEBS=$(mktemp -d /var/tmp/pymac-debs.XXXXXX) || die "mktemp failed"
NAME=pymac-build-dbg-$$
trap 'rm -rf "$DEBS"; docker rm -f "$NAME" >/dev/null 2>&1' EXIT INT TERM

list=
for p in $pkgs; do
	list="$list $p=$version"
done
echo "build-image-dbg: apt-get download$list"
# shellcheck disable=SC2086
if ! (cd "$DEBS" && apt-get download -q $list >"$DEBS/download.log" 2>&1); then
	tail -n 5 "$DEBS/download.log" >&2
	unavailable "apt-get download$list failed"
fi
rm -f "$DEBS/download.log"
fetched=$(date +%s)

# dpkg names any dependency the image lacks; the container has no network,
# so it cannot be fetched there.
echo "build-image-dbg: dpkg -i in a container of $BASE"
if ! docker run --name "$NAME" --network none -v "$DEBS:/debs:ro" "$BASE" \
	sh -c 'dpkg -i /debs/*.deb' >"$DEBS/dpkg.log" 2>&1; then
	missing=$(sed -n 's/^ .* depends on \([^;]*\); however:.*/\1/p' "$DEBS/dpkg.log" | sort -u | tr '\n' ' ')
	tail -n 20 "$DEBS/dpkg.log" >&2
	rm -f "$DEBS/dpkg.log"
	[ -n "$missing" ] && unavailable "packages $BASE lacks for $pkgs: $missing"
	die "dpkg -i failed"
fi
rm -f "$DEBS/dpkg.log"

# The point of the image: the interpreter's build-id names a debug file
# inside it.
docker cp "$NAME:/usr/bin/python3.11" "$DEBS/python3.11" >/dev/null || die "docker cp failed"
bid=$(readelf -n "$DEBS/python3.11" | awk '/Build ID:/ { print $3; exit }')
[ -n "$bid" ] || die "no build-id in the image's /usr/bin/python3.11"
debug=/usr/lib/debug/.build-id/$(echo "$bid" | cut -c1-2)/$(echo "$bid" | cut -c3-).debug
docker cp "$NAME:$debug" - >/dev/null 2>&1 ||
	die "the image's python3.11 (build-id $bid) has no $debug after installing $pkgs"

docker commit -c 'CMD ["/usr/bin/python3"]' -c "LABEL pymac.python3.11=$version" \
	-c "LABEL pymac.python3.11.build-id=$bid" "$NAME" "$IMAGE" >/dev/null ||
	die "docker commit failed"
end=$(date +%s)
echo "build-image-dbg: built $IMAGE: python3.11 $version, build-id $bid" \
	"(download $((fetched - start))s, install and commit $((end - fetched))s)"
