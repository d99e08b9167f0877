#!/bin/sh
# Turn a CPython tree cached by scripts/build-python.sh into a local image
# like the official python:3.X-slim: a bookworm minbase rootfs without
# Debian's python3, the runtime libraries the build links to, the tree's
# /usr/local (scripts/build-image.sh --tree). Then check that it runs.
# Cached: the image is kept unless --force is given or its tree was rebuilt.
#
# usage: scripts/build-image-python.sh TAG [--force] [--mirror URL]
#   TAG 3.11-slim -> pymaccounter/python:3.11-slim-like
#       3.11-full -> pymaccounter/python:3.11-full-like
#       3.13t     -> pymaccounter/python:3.13t (there is no official one to be like)
# (PYMAC_PYTHON_CACHE: where the trees are)
set -u

CACHE=${PYMAC_PYTHON_CACHE:-/var/cache/pymac-python}
HERE=$(cd "$(dirname "$0")" && pwd)

die() {
	echo "build-image-python: $*" >&2
	exit 1
}

TAG=
FORCE=0
MIRROR=
while [ $# -gt 0 ]; do
	case "$1" in
	--force) FORCE=1 ;;
	--mirror)
		[ $# -ge 2 ] || die "--mirror needs a URL"
		MIRROR=$2
		shift
		;;
	-h | --help)
		sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*) die "unknown argument: $1 (try --help)" ;;
	*)
		[ -z "$TAG" ] || die "one TAG only (got $TAG and $1)"
		TAG=$1
		;;
	esac
	shift
done

[ -n "$TAG" ] || die "no TAG given (e.g. 3.11-slim or 3.13t; try --help)"
case "$TAG" in
3.[0-9]*-slim | 3.[0-9]*-full) IMAGE=pymaccounter/python:$TAG-like ;;
3.[0-9]*t | 3.[0-9]*t-full) IMAGE=pymaccounter/python:$TAG ;;
*) die "unknown tag: $TAG (expected 3.N-slim, 3.N-full, 3.Nt or 3.Nt-full)" ;;
esac
TREE=$CACHE/$TAG
[ -r "$TREE/BUILD-INFO" ] || die "no cached tree $TREE; build it first with scripts/build-python.sh"

# The tree's build time names the build; an image made from an older build
# of the same tag is remade.
built=$(sed -n 's/^built: \([^ ]*\).*/\1/p' "$TREE/BUILD-INFO")
python=$(sed -n 's/^python: //p' "$TREE/BUILD-INFO")
if [ -z "$built" ] || [ -z "$python" ]; then
	die "$TREE/BUILD-INFO names no build; rebuild it with scripts/build-python.sh --force"
fi

command -v docker >/dev/null 2>&1 || die "docker is missing; run scripts/docker-setup.sh"
docker version >/dev/null 2>&1 || die "the Docker engine does not answer; run scripts/docker-setup.sh"

have=$(docker image inspect -f '{{ index .Config.Labels "pymac.python.built" }}' "$IMAGE" 2>/dev/null)
if [ "$FORCE" = 0 ] && [ -n "$have" ] && [ "$have" != "$built" ]; then
	echo "build-image-python: $IMAGE is of an older build of $TAG ($have); remaking it"
	FORCE=1
fi

set -- --image "$IMAGE" --tree "$TREE" --label "pymac.python.tag=$TAG" \
	--label "pymac.python.version=$python" --label "pymac.python.built=$built"
[ "$FORCE" = 1 ] && set -- "$@" --force
[ -n "$MIRROR" ] && set -- "$@" --mirror "$MIRROR"
sh "$HERE/build-image.sh" "$@" || die "scripts/build-image.sh failed for $TAG"

out=$(docker run --rm --network none "$IMAGE" python3 -c 'import sys; print(sys.version)' 2>&1) ||
	die "$IMAGE does not run python3: $out"
echo "build-image-python: $IMAGE runs python3: $(echo "$out" | head -n 1)"
