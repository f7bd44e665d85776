# shellcheck shell=bash disable=SC2034 # (variables are used by the scripts that source this file)
# Shared settings for scripts/services, scripts/install-deps and scripts/kafka-cli.
# Sourced, never run. Every path and port can be overridden from the environment
# so that parallel checkouts (or CI) can move the services out of the way.

# Repository root: this file lives in <repo>/scripts/lib/.
KLAG_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KLAG_SCRIPTS="$KLAG_REPO/scripts"

# Where services keep data, configs, pid files and logs: one folder per service.
KLAG_SERVICES_DIR="${KLAG_SERVICES_DIR:-$KLAG_REPO/target/services}"
# Absolute, because the folder names the services' processes (see scripts/services).
if [[ "$KLAG_SERVICES_DIR" != /* ]]; then KLAG_SERVICES_DIR="$PWD/$KLAG_SERVICES_DIR"; fi
# Where install-deps puts the Kafka jars: one folder per Kafka version.
KLAG_KAFKA_LIB_DIR="${KLAG_KAFKA_LIB_DIR:-$KLAG_REPO/target/kafka-lib}"
if [[ "$KLAG_KAFKA_LIB_DIR" != /* ]]; then KLAG_KAFKA_LIB_DIR="$PWD/$KLAG_KAFKA_LIB_DIR"; fi

KLAG_ZK_PORT="${KLAG_ZK_PORT:-21810}"
KLAG_KAFKA39_PORT="${KLAG_KAFKA39_PORT:-19092}"
# kafka39's SASL_PLAINTEXT and SSL listeners; broker i adds i - 1, as for
# PLAINTEXT (room for 9 brokers before the next range).
KLAG_KAFKA39_SASL_PORT="${KLAG_KAFKA39_SASL_PORT:-$((KLAG_KAFKA39_PORT + 10))}"
KLAG_KAFKA39_SSL_PORT="${KLAG_KAFKA39_SSL_PORT:-$((KLAG_KAFKA39_PORT + 20))}"
KLAG_KAFKA4_PORT="${KLAG_KAFKA4_PORT:-29092}"
# The KRaft controller listener of kafka4 sits right above its broker port.
KLAG_KAFKA4_CONTROLLER_PORT="${KLAG_KAFKA4_CONTROLLER_PORT:-$((KLAG_KAFKA4_PORT + 1))}"
# Graphite carbon-cache: plaintext line receiver (TCP and UDP on the same port
# number); its pickle receiver and cache query port sit right above it.
KLAG_CARBON_PORT="${KLAG_CARBON_PORT:-22003}"
# InfluxDB 1.x HTTP API; its RPC (backup/restore) bind sits right above it.
KLAG_INFLUX_PORT="${KLAG_INFLUX_PORT:-28086}"

# Debian's ZooKeeper 3.8 (package `zookeeper`). Its jar's manifest carries the
# Class-Path of its dependencies; slf4j-log4j12 + log4j 1.2 (both hard
# dependencies of the package) are added so that its slf4j logging is not dropped.
KLAG_ZK_CLASSPATH="/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"

JAVA="${JAVA:-java}"

die() {
    echo "error: $*" >&2
    exit 1
}

log() {
    echo "[$(date +%H:%M:%S)] $*" >&2
}

# kafka_version 39|4 -> the Kafka version pinned in scripts/maven/kafka<N>/pom.xml.
# The pom is the single place where the version is chosen.
kafka_version() {
    local pom="$KLAG_SCRIPTS/maven/kafka$1/pom.xml"
    [[ -f "$pom" ]] || die "unknown Kafka line '$1' (expected 39 or 4)"
    sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n 1
}

# kafka_lib 39|4 -> folder of jars for that Kafka line (filled by install-deps).
kafka_lib() {
    echo "$KLAG_KAFKA_LIB_DIR/$(kafka_version "$1")"
}

# kafka_lib_ready 39|4 -> true when install-deps finished copying the jars for
# the pom as it is now (the stamp holds the pom's checksum).
kafka_lib_ready() {
    local lib stamp
    lib="$(kafka_lib "$1")"
    stamp="$lib/.complete"
    [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$(pom_checksum "$1")" ]]
}

pom_checksum() {
    sha256sum "$KLAG_SCRIPTS/maven/kafka$1/pom.xml" | cut -d' ' -f1
}

# True when every system package that the services need is present.
system_deps_ready() {
    command -v kcat >/dev/null 2>&1 &&
        command -v tmux >/dev/null 2>&1 &&
        command -v openssl >/dev/null 2>&1 &&
        command -v "$JAVA" >/dev/null 2>&1 &&
        [[ -f /usr/share/java/zookeeper.jar ]] &&
        [[ -f /usr/share/java/slf4j-log4j12.jar ]] &&
        [[ -f /usr/share/java/log4j-1.2.jar ]]
}

# True when the Debian packages of the metrics sinks are present: graphite-carbon
# (carbon-cache, with python3-whisper's whisper-fetch), influxdb and influxdb-client.
metrics_deps_ready() {
    [[ -x /usr/bin/carbon-cache && -x /usr/bin/whisper-fetch && -x /usr/bin/influxd && -x /usr/bin/influx ]]
}

# JVM flags for short-lived JVMs (CLI tools, the KRaft format step): startup
# time matters more than peak speed, so C1 only, serial GC, no perf data file.
KLAG_TOOL_JVM_OPTS=(-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData
    -Xshare:auto -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true)

# tool_log_opts 39|4 -> system properties that make Kafka's CLI tools log WARN+
# to stderr (3.9 uses log4j 1 / reload4j, 4.x uses log4j2).
tool_log_opts() {
    case "$1" in
        39) echo "-Dlog4j.configuration=file:$KLAG_SCRIPTS/conf/tools-log4j.properties" ;;
        4) echo "-Dlog4j2.configurationFile=$KLAG_SCRIPTS/conf/tools-log4j2.xml" ;;
        *) die "unknown Kafka line '$1'" ;;
    esac
}

# print_usage SCRIPT: print the comment block at the top of SCRIPT (after the
# shebang), which is each script's usage text.
print_usage() {
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}
