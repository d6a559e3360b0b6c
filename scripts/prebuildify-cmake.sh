#!/usr/bin/env bash
# Stands in for node-gyp under prebuildify: ignores node-gyp's arguments (rebuild --target=...) and
# builds with cmake-js into build/Release, where prebuildify picks up the .node and plugin .so files.
set -euo pipefail
exec node "$(dirname "$0")/build-native.js"
