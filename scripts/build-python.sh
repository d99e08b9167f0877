#!/bin/sh
# Build CPython the way the official python:3.X(-slim) bookworm images do
# (docker-library/python's Dockerfile), from the upstream tarball of Debian's
# python3.X source package, and cache the installed /usr/local tree under
# /var/cache/pymac-python/<tag>/. A second run with the same recipe is
# instant unless --force is given.
#
# usage: scripts/build-python.sh VERSION [--variant full|slim] [--disable-gil] [--force]
#   VERSION        3.N, e.g. 3.11 or 3.13 (the source comes from apt's deb-src lines)
#   --variant      slim (default: the link strips everything) or full (keeps symbols)
#   --disable-gil  free-threaded build (3.13 and later)
#   tags: 3.11-slim, 3.11-full, 3.13t (free-threaded slim), 3.13t-full
# (PYMAC_PYTHON_CACHE: the cache, PYMAC_SRC_CACHE: the tarballs, PYMAC_BUILD_JOBS: make -j)
set -u

CACHE=${PYMAC_PYTHON_CACHE:-/var/cache/pymac-python}
SRC=${PYMAC_SRC_CACHE:-/var/cache/pymac-src}
JOBS=${PYMAC_BUILD_JOBS:-2}
# Bump when the recipe below changes, so cached trees of an older recipe
# are rebuilt.
RECIPE=1

die() {
	echo "build-python: $*" >&2
	exit 1
}

usage() {
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

VERSION=
VARIANT=slim
NOGIL=0
FORCE=0
while [ $# -gt 0 ]; do
	case "$1" in
	--variant)
		[ $# -ge 2 ] || die "--variant needs full or slim"
		VARIANT=$2
		shift
		;;
	--variant=*) VARIANT=${1#--variant=} ;;
	--disable-gil) NOGIL=1 ;;
	--force) FORCE=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	-*) die "unknown argument: $1 (try --help)" ;;
	*)
		[ -z "$VERSION" ] || die "one VERSION only (got $VERSION and $1)"
		VERSION=$1
		;;
	esac
	shift
done

[ -n "$VERSION" ] || die "no VERSION given (e.g. 3.11 or 3.13; try --help)"
echo "$VERSION" | grep -Eq '^3\.[0-9]+$' || die "unknown version: $VERSION (expected 3.N, e.g. 3.11)"
case "$VARIANT" in
full | slim) ;;
*) die "unknown variant: $VARIANT (expected full or slim)" ;;
esac
MINOR=${VERSION#3.}
if [ "$NOGIL" = 1 ] && [ "$MINOR" -lt 13 ]; then
	die "--disable-gil needs 3.13 or later (got $VERSION)"
fi
[ "$(id -u)" = 0 ] || die "must run as root (installs build dependencies with apt-get)"

if [ "$NOGIL" = 1 ]; then
	TAG=${VERSION}t
	[ "$VARIANT" = full ] && TAG=$TAG-full
else
	TAG=$VERSION-$VARIANT
fi
TREE=$CACHE/$TAG
LOGDIR=$CACHE/logs
LOG=$LOGDIR/$TAG.log
mkdir -p "$CACHE" "$LOGDIR" "$SRC" || die "cannot create $CACHE or $SRC"

# One build per tag at a time; a second caller waits, then finds the cache.
exec 9>"$CACHE/.$TAG.lock" || die "cannot open $CACHE/.$TAG.lock"
flock 9 || die "cannot lock $CACHE/.$TAG.lock"

# The newest upstream tarball of python3.N in the source cache.
find_orig() {
	# the tarball, not its detached signature (.orig.tar.xz.asc)
	ls "$SRC"/python"$VERSION"_*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | sort -V | tail -n 1
}

ORIG=$(find_orig)
if [ -z "$ORIG" ]; then
	apt-cache showsrc "python$VERSION" 2>/dev/null | grep -q '^Package:' ||
		die "unknown version: $VERSION (no source package python$VERSION in apt's deb-src lists)"
	echo "build-python: apt-get source --download-only python$VERSION into $SRC"
	if ! (cd "$SRC" && apt-get source --download-only "python$VERSION" >"$LOG" 2>&1); then
		err=$(grep -m 1 '^E:' "$LOG")
		die "no source available for python$VERSION: ${err:-apt-get source failed, see $LOG}"
	fi
	ORIG=$(find_orig)
	[ -n "$ORIG" ] || die "apt-get source python$VERSION fetched no .orig tarball (see $LOG)"
fi
# python3.11_3.11.2.orig.tar.gz -> 3.11.2
FULLVER=$(basename "$ORIG" | sed 's/^python[0-9.]*_\([^.]*\.[^.]*\.[^.]*\)\.orig\..*/\1/')
BUILD_ARCH=$(dpkg-architecture --query DEB_BUILD_GNU_TYPE 2>/dev/null) || die "dpkg-architecture failed (install dpkg-dev)"

CONFIGURE="--build=$BUILD_ARCH --enable-loadable-sqlite-extensions --enable-optimizations \
--enable-option-checking=fatal --enable-shared --with-lto --with-system-expat --without-ensurepip"
[ "$NOGIL" = 1 ] && CONFIGURE="$CONFIGURE --disable-gil"

# The Dockerfile's flags come from dpkg-buildflags run in the source tree
# (its -ffile-prefix-map names it), so the tree always sits at one path.
WORK=/var/tmp/pymac-python-build/$TAG
BUILD=$WORK/python
mkdir -p "$BUILD" || die "cannot create $BUILD"
EXTRA_CFLAGS=$(cd "$BUILD" && dpkg-buildflags --get CFLAGS)
LDFLAGS=$(cd "$BUILD" && dpkg-buildflags --get LDFLAGS)
# The Dockerfile has kept frame pointers since 3.12 on amd64 and arm64, for
# perf; the first instruction of each function is then push %rbp.
if [ "$MINOR" -ge 12 ]; then
	case "$(dpkg --print-architecture)" in
	amd64 | arm64) EXTRA_CFLAGS="$EXTRA_CFLAGS -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer" ;;
	i386) ;;
	*) EXTRA_CFLAGS="$EXTRA_CFLAGS -fno-omit-frame-pointer" ;;
	esac
fi
[ "$VARIANT" = slim ] && LDFLAGS="${LDFLAGS:--Wl},--strip-all"

KEY="recipe=$RECIPE source=$(basename "$ORIG") size=$(stat -c %s "$ORIG") configure=$CONFIGURE \
EXTRA_CFLAGS=$EXTRA_CFLAGS LDFLAGS=$LDFLAGS"

# What a tree is: the facts tests and docs rely on, printed on every run.
describe() {
	lib=$(ls "$TREE"/usr/local/lib/libpython3*.so.1.0 2>/dev/null | head -n 1)
	py=$(readlink -f "$TREE/usr/local/bin/python3")
	if [ -z "$lib" ] || [ ! -x "$py" ]; then
		die "$TREE has no libpython or bin/python3"
	fi
	echo "build-python: $TAG: $py"
	"$py" -c 'import sys, sysconfig
print("  version:", sys.version.replace("\n", " "))
print("  CONFIG_ARGS:", sysconfig.get_config_var("CONFIG_ARGS"))
if hasattr(sys, "_is_gil_enabled"):
    print("  sys._is_gil_enabled():", sys._is_gil_enabled())' ||
		die "$py does not run"
	secs=
	for s in .symtab .dynsym .note.stapsdt .debug_info .gnu_debuglink; do
		if readelf -S -W "$lib" | grep -q " $s "; then
			secs="$secs $s"
		else
			secs="$secs no-$s"
		fi
	done
	echo "  libpython: $lib"
	echo "  sections:$secs"
}

if [ "$FORCE" = 0 ] && [ -r "$TREE/BUILD-INFO" ] && grep -qxF "key: $KEY" "$TREE/BUILD-INFO"; then
	echo "build-python: $TAG is cached in $TREE (use --force to rebuild); $(grep '^total:' "$TREE/BUILD-INFO")"
	rm -rf "$WORK"
	describe
	exit 0
fi

# The Dockerfile's build dependencies that Debian has (its gnupg and wget
# only fetch the tarball).
DEPS="build-essential dpkg-dev gcc libc6-dev make xz-utils libbluetooth-dev libbz2-dev libdb-dev \
libexpat1-dev libffi-dev libgdbm-dev liblzma-dev libncurses-dev libreadline-dev libsqlite3-dev \
libssl-dev tk-dev uuid-dev zlib1g-dev"
missing=
for p in $DEPS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "build-python: apt-get install$missing"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >"$LOG" 2>&1 ||
		die "apt-get install$missing failed (see $LOG)"
fi

STAGE=$CACHE/.$TAG.stage
rm -rf "$WORK" "$STAGE"
mkdir -p "$BUILD" "$STAGE" || die "cannot create $BUILD"
: >"$LOG"

step_start=$(date +%s)
TIMES=
# Runs one build step in the source tree, logging its exact command line.
run() {
	{
		printf '+'
		printf " '%s'" "$@"
		printf '\n'
	} >>"$LOG"
	if ! (cd "$BUILD" && "$@") >>"$LOG" 2>&1; then
		tail -n 25 "$LOG" >&2
		die "$TAG: '$1 $2' failed (log: $LOG, tree left in $BUILD)"
	fi
}
# Records how long the steps since the last mark took.
mark() {
	now=$(date +%s)
	TIMES="$TIMES $1=$((now - step_start))s"
	echo "build-python: $TAG: $1 took $((now - step_start))s"
	step_start=$now
}

t0=$(date +%s)
echo "build-python: $TAG from $ORIG (log: $LOG)"
run tar --extract --strip-components=1 --file "$ORIG"
# shellcheck disable=SC2086
run ./configure $CONFIGURE
mark configure
# PROFILE_TASK is the Makefile's (the PGO run of the test suite), as in
# the Dockerfile.
run make -j "$JOBS" "EXTRA_CFLAGS=$EXTRA_CFLAGS" "LDFLAGS=$LDFLAGS"
mark make
# The Dockerfile relinks python with an rpath so it cannot pick up another
# libpython of the same version (docker-library/python#784).
run rm python
run make -j "$JOBS" "EXTRA_CFLAGS=$EXTRA_CFLAGS" "LDFLAGS=${LDFLAGS:--Wl},-rpath='\$\$ORIGIN/../lib'" python
mark relink
run make install "DESTDIR=$STAGE"
if [ "$VARIANT" = full ]; then
	# Only the full image lets gdb find the interpreter's helpers.
	bin=$(readlink -f "$STAGE/usr/local/bin/python3")
	bin=/usr/local/bin/$(basename "$bin")
	run mkdir -p "$STAGE/usr/share/gdb/auto-load/usr/local/bin"
	run cp -L Tools/gdb/libpython.py "$STAGE/usr/share/gdb/auto-load$bin-gdb.py"
fi
find "$STAGE/usr/local" -depth \
	\( \
	\( -type d -a \( -name test -o -name tests -o -name idle_test \) \) \
	-o \( -type f -a \( -name '*.pyc' -o -name '*.pyo' -o -name 'libpython*.a' \) \) \
	\) -exec rm -rf '{}' + || die "cleaning $STAGE failed"
# The images' python, pydoc, idle and python-config links.
for src in idle3 pydoc3 python3 python3-config; do
	dst=$(echo "$src" | tr -d 3)
	if [ -e "$STAGE/usr/local/bin/$src" ] && [ ! -e "$STAGE/usr/local/bin/$dst" ]; then
		ln -sT "$src" "$STAGE/usr/local/bin/$dst" || die "ln $dst failed"
	fi
done
mark install
t1=$(date +%s)

{
	echo "tag: $TAG"
	echo "python: $FULLVER"
	echo "source: $ORIG"
	echo "key: $KEY"
	echo "configure: ./configure $CONFIGURE"
	echo "make: make -j $JOBS \"EXTRA_CFLAGS=$EXTRA_CFLAGS\" \"LDFLAGS=$LDFLAGS\""
	echo "relink: make -j $JOBS \"EXTRA_CFLAGS=$EXTRA_CFLAGS\" \"LDFLAGS=${LDFLAGS:--Wl},-rpath='\$\$ORIGIN/../lib'\" python"
	echo "install: make install DESTDIR=<tree>"
	echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores"
	echo "steps:$TIMES"
	echo "total: $((t1 - t0))s"
} >"$STAGE/BUILD-INFO" || die "cannot write $STAGE/BUILD-INFO"

rm -rf "$TREE" || die "cannot remove the old $TREE"
mv "$STAGE" "$TREE" || die "cannot move $STAGE to $TREE"
# The Dockerfile drops its source tree too.
rm -rf "$WORK"
echo "build-python: built $TAG in $((t1 - t0))s ($TIMES ) -> $TREE"
describe
