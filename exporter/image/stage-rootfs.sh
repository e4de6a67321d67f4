#!/usr/bin/env bash
# Assembles the file system of the daemonless exporter image (exporter/image/pom.xml, profile `image`), without
# a registry: the image is built FROM scratch, so everything it runs comes from this machine.
#
#   stage-rootfs.sh ROOT EXPORTER_JAR JVM_OPTIONS
#
#  /opt/java/openjdk            a Java runtime made by jlink from the JDK running the build, holding only the
#                               modules the exporter uses (jdeps on the shaded jar, plus services it loads by name)
#  /lib, /lib64                 the shared libraries that runtime links against (ldd), i.e. the build machine's
#                               glibc, libstdc++, libgcc_s, zlib, and the dynamic loader
#  /etc/passwd, /etc/group      root and nobody (65534, the user the image runs as)
#  /etc/nsswitch.conf           host names from /etc/hosts, then DNS (container runtimes write both files)
#  /opt/pg-batch-exporter/      pg-batch-exporter.jar and jvm.options (the one file of JVM options)
set -euo pipefail
root=$1
jar=$2
options=$3
[[ -f $jar ]] || { echo "stage-rootfs: $jar does not exist (build it: mvn -B -DskipTests package -pl exporter -am)" >&2; exit 2; }
[[ -f $options ]] || { echo "stage-rootfs: $options does not exist" >&2; exit 2; }
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
rm -rf "$root"
mkdir -p "$root/opt/java" "$root/opt/pg-batch-exporter" "$root/etc" "$root/tmp"

# jdeps --print-module-deps on the shaded jar lists java.base, java.management, java.naming, java.security.jgss,
# java.sql, jdk.httpserver, jdk.unsupported and java.desktop; java.desktop only for java.beans, which Typesafe
# Config's ConfigBeanFactory uses and the exporter does not (and it would pull in X11 libraries). Added: the
# services the JDK loads by name, which jdeps cannot see: jdk.crypto.ec (TLS to PostgreSQL and of web.tls with EC
# keys), jdk.management (the process CPU and memory metrics), jdk.naming.dns, jdk.zipfs.
modules=java.base,java.logging,java.management,java.naming,java.security.jgss,java.sql,jdk.httpserver,jdk.unsupported
modules+=,jdk.crypto.ec,jdk.management,jdk.naming.dns,jdk.zipfs
"$java_home/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=2 \
  --output "$root/opt/java/openjdk"

# the libraries outside the runtime that its executables and libraries need, at the paths the loader looks in
copy_into_root() {
  local path=$1
  [[ -e $root$path ]] && return
  mkdir -p "$root$(dirname "$path")"
  cp -L "$path" "$root$path"
}
interpreter=/lib64/ld-linux-x86-64.so.2
copy_into_root "$interpreter"
while IFS= read -r -d '' elf; do
  file_type=$(head -c 4 "$elf" | od -An -c | tr -d ' ')
  [[ $file_type == 177ELF ]] || continue
  ldd "$elf" | awk '/=> \// { print $3 }' | while read -r lib; do
    [[ $lib == "$root"* ]] || copy_into_root "$lib"
  done
done < <(find "$root/opt/java/openjdk" -type f \( -name '*.so' -o -path '*/bin/*' -o -name jspawnhelper \) -print0)
# (libjvm.so is loaded by the launcher before the other libraries, which name it without a path)
missing=$(find "$root/opt/java/openjdk" -type f -name '*.so' -exec ldd {} + 2>/dev/null | grep 'not found' | grep -v 'libjvm.so' || true)
[[ -z $missing ]] || { echo "stage-rootfs: unresolved libraries: $missing" >&2; exit 1; }

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
cp "$jar" "$root/opt/pg-batch-exporter/pg-batch-exporter.jar"
cp "$options" "$root/opt/pg-batch-exporter/jvm.options"
echo "stage-rootfs: $(du -sh "$root" | cut -f1) in $root (runtime: $modules)" >&2
