#!/bin/sh
# Install every build, test and benchmark dependency of pymac from Debian's
# packages. Idempotent; run as root (or through sudo).
set -eu
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (try: sudo make deps)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	make gcc clang llvm libc6-dev pkg-config \
	libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev libcapstone-dev \
	libncurses-dev libjson-c-dev libcmocka-dev systemtap-sdt-dev \
	python3 python3.11 python3-pytest bpftrace tmux jq procps \
	docker.io docker-compose debootstrap curl ca-certificates podman \
	chromium fonts-dejavu-core python3-prometheus-client prometheus libdebuginfod-dev strace \
	libcap2-bin python3-yaml heaptrack bpfcc-tools linux-headers-cloud-amd64
# Debian's python3.11 and its debug information at one version: the
# debug file only matches the interpreter built with it (by build-id).
v=$(apt-cache policy python3.11 | awk '/Candidate:/ {print $2}')
apt-get install -y -q --no-install-recommends "python3.11=$v" "python3.11-dbg=$v" \
	"libpython3.11-stdlib=$v" "python3.11-minimal=$v" "libpython3.11-minimal=$v"
