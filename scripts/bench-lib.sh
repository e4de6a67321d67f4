# Shared by the benchmark scripts (sourced): installs what they need when run as root, builds the
# exporter jar and the bench module when missing or older than their sources, and sets bench_java
# to the java command line that runs an entry point of the bench module.
bench_prepare() {
  if [[ $(id -u) -eq 0 ]]; then
    scripts/install-deps.sh >&2
  fi
  local stale
  stale=$(find exporter/src exporter/pom.xml bench/src bench/pom.xml harness/src harness/pom.xml pom.xml \
    -newer bench/target/classpath.txt -print -quit 2>/dev/null || echo missing)
  if [[ ! -f bench/target/classpath.txt || ! -f exporter/target/pg-batch-exporter.jar || -n "$stale" ]]; then
    echo "[bench] building the exporter jar and the bench module" >&2
    mvn -B -ntp -q -DskipTests package -pl bench -am >&2
  fi
  bench_java=(java -cp "bench/target/classes:$(cat bench/target/classpath.txt)"
    -Dpgbt.repo.dir="$(pwd)" -Dpgbt.binaries.dir="$(pwd)/harness/target/pg-binaries")
}
