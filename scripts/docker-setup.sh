#!/bin/sh
# Make a Docker engine answer on /var/run/docker.sock: install docker.io and
# docker-compose from Debian when missing, start dockerd when nothing answers.
# Safe to run any number of times.
#
# Flags: this machine has no iptables and no bridge to spare, and its cgroup
# hierarchy is not managed by systemd, so dockerd runs without networking
# setup and with the cgroupfs driver (containers land in /docker/<id>).
set -u

SOCK=/var/run/docker.sock
LOG=${PYMAC_DOCKERD_LOG:-/var/log/pymac-dockerd.log}
WAIT=${PYMAC_DOCKERD_WAIT:-30}

die() {
	echo "docker-setup: $*" >&2
	exit 1
}

ping_engine() {
	[ -S "$SOCK" ] || return 1
	[ "$(curl -s --max-time 2 --unix-socket "$SOCK" http://localhost/_ping 2>/dev/null)" = OK ]
}

[ "$(id -u)" = 0 ] || die "must run as root (installs packages and starts dockerd)"

missing=
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v docker >/dev/null 2>&1 || missing="$missing docker.io"
command -v docker-compose >/dev/null 2>&1 || missing="$missing docker-compose"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
if [ -n "$missing" ]; then
	# Sort out duplicates (docker.io provides both docker and dockerd).
	missing=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
	echo "docker-setup: installing $missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null 2>&1 || true
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		die "apt-get install $missing failed"
fi

if ping_engine; then
	exit 0
fi

if pid=$(pidof dockerd 2>/dev/null); then
	# A dockerd that exists but does not answer may still be starting.
	echo "docker-setup: dockerd (pid $pid) is running but not answering yet; waiting"
else
	echo "docker-setup: starting dockerd (log: $LOG)"
	mkdir -p "$(dirname "$LOG")"
	# setsid: the engine must outlive this script and its session.
	setsid dockerd --iptables=false --ip6tables=false --ip-forward=false \
		--bridge=none --storage-driver=overlay2 \
		--exec-opt native.cgroupdriver=cgroupfs >>"$LOG" 2>&1 </dev/null &
fi

i=0
while [ "$i" -lt "$WAIT" ]; do
	if ping_engine; then
		echo "docker-setup: engine answers after ${i}s"
		exit 0
	fi
	sleep 1
	i=$((i + 1))
done
die "dockerd did not answer on $SOCK within ${WAIT}s; see $LOG"
