#!/usr/bin/env bash
# Installs the system tools the test suite starts for real (none mocked).
# Idempotent: does nothing when they are already there.
set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
