#!/usr/bin/env bash
# The main job: builds lsmlog and streams data through a Log (until the Python
# package lands, the C demo in examples/stream_demo.c). Usage: scripts/demo.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DLSMLOG_TESTS=OFF -DLSMLOG_EXAMPLES=ON >/dev/null
cmake --build build-demo -j"$(nproc)" --target stream_demo >/dev/null
dir="${1:-$(mktemp -d /tmp/lsmlog-demo.XXXXXX)/events}"
exec ./build-demo/stream_demo "$dir"
