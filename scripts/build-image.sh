#!/bin/sh
# Build the containers' base image, pymaccounter/python:3.11, without a
# registry: a minimal Debian bookworm rootfs with Debian's python3, made by
# debootstrap and loaded with docker import. Cached: an existing image is kept
# unless --force is given.
#
# With --tree DIR (a tree scripts/build-python.sh cached), the rootfs gets no
# Debian python3 but the runtime libraries such a build links to and DIR's
# /usr/local, like the official python:3.X-slim images; --label K=V labels
# the image.
#
# usage: scripts/build-image.sh [--force] [--image NAME] [--mirror URL] [--tree DIR] [--label K=V]...
set -u

IMAGE=${PYMAC_IMAGE:-pymaccounter/python:3.11}
SUITE=bookworm
MIRROR=${PYMAC_DEBIAN_MIRROR:-}
FORCE=0
TREE=
LABELS=

die() {
	echo "build-image: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	--force) FORCE=1 ;;
	--image) [ $# -ge 2 ] || die "--image needs a name"; IMAGE=$2; shift ;;
	--mirror) [ $# -ge 2 ] || die "--mirror needs a URL"; MIRROR=$2; shift ;;
	--tree) [ $# -ge 2 ] || die "--tree needs a directory"; TREE=$2; shift ;;
	--label) [ $# -ge 2 ] || die "--label needs KEY=VALUE"; LABELS="$LABELS $2"; shift ;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done

command -v docker >/dev/null 2>&1 || die "docker is missing; run scripts/docker-setup.sh"
docker version >/dev/null 2>&1 || die "the Docker engine does not answer; run scripts/docker-setup.sh"

if [ "$FORCE" = 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
	echo "build-image: $IMAGE exists (use --force to rebuild)"
	exit 0
fi

# The first URIs of the deb822 sources, else the first deb line of the
# one-line format; this machine can only reach the mirror it is set up with.
if [ -z "$MIRROR" ]; then
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		MIRROR=$(awk 'tolower($1) == "uris:" && $2 ~ /\/debian\/?$/ { print $2; exit }' "$f")
		[ -n "$MIRROR" ] && break
	done
fi
if [ -z "$MIRROR" ]; then
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		MIRROR=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
		[ -n "$MIRROR" ] && break
	done
fi
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list*; pass --mirror URL"

command -v debootstrap >/dev/null 2>&1 || {
	echo "build-image: installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
		die "apt-get install debootstrap failed"
}

ROOT=$(mktemp -d /var/tmp/pymac-rootfs.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$ROOT"' EXIT INT TERM

# The runtime libraries of a python:3.X-slim image: what its build links
# to (docker-library/python's slim Dockerfile keeps the same set).
SLIM_LIBS=ca-certificates,netbase,tzdata,libbz2-1.0,libdb5.3,libexpat1,libffi8,libgdbm6,liblzma5,libncursesw6,libreadline8,libsqlite3-0,libssl3,libuuid1,zlib1g
if [ -n "$TREE" ]; then
	[ -x "$TREE/usr/local/bin/python3" ] || die "$TREE has no usr/local/bin/python3 (see scripts/build-python.sh)"
	INCLUDE=$SLIM_LIBS
	PY=/usr/local/bin/python3
else
	INCLUDE=python3
	PY=/usr/bin/python3
fi

start=$(date +%s)
echo "build-image: debootstrap $SUITE from $MIRROR"
if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOT" "$MIRROR" \
	>"$ROOT.log" 2>&1; then
	tail -n 20 "$ROOT.log" >&2
	rm -f "$ROOT.log"
	die "debootstrap failed"
fi
rm -f "$ROOT.log"
# Package caches only make the image bigger.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
if [ -n "$TREE" ]; then
	cp -a "$TREE/usr/local/." "$ROOT/usr/local/" || die "copying $TREE/usr/local failed"
	[ -d "$TREE/usr/share/gdb" ] && cp -a "$TREE/usr/share/gdb" "$ROOT/usr/share/"
fi
[ -x "$ROOT$PY" ] || die "the rootfs has no $PY"
boot=$(date +%s)

echo "build-image: docker import $IMAGE"
set -- -c "CMD [\"$PY\"]" -c 'ENV LANG=C.UTF-8'
[ -n "$TREE" ] && set -- "$@" -c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin'
for l in $LABELS; do
	set -- "$@" -c "LABEL $l"
done
tar -C "$ROOT" -c . | docker import "$@" - "$IMAGE" >/dev/null || die "docker import failed"
end=$(date +%s)
echo "build-image: built $IMAGE (debootstrap $((boot - start))s, import $((end - boot))s)"
