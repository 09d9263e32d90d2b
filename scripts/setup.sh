#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian 12 machine,
# only when missing. Sourced by demo.sh and test.sh.
set -euo pipefail

apt_updated=0
need_pkg() { # need_pkg COMMAND PACKAGE...
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "setup: '$1' is missing; install: apt-get install ${*:2}" >&2
        exit 1
    fi
    if [ $apt_updated = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    echo "setup: installing ${*:2}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${@:2}" >/dev/null
}

need_pkg gcc gcc
need_pkg make make
need_pkg cmake cmake
