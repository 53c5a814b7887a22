#!/bin/sh
# Builds an OCI image layout of busybox from Debian's busybox-static, for examples and tests that
# must not need a network. Usage: hack/build-busybox-image.sh OUTDIR [REF]   (REF: busybox:latest)
# The output is byte-for-byte reproducible for a given busybox binary: fixed mtimes and owners,
# sorted tar members, gzip without name/time, compact JSON. Needs: tar, gzip, sha256sum, busybox-static.
set -eu

out=${1:?usage: build-busybox-image.sh OUTDIR [REF]}
ref=${2:-busybox:latest}
bb=${BUSYBOX:-/bin/busybox}

if [ ! -x "$bb" ] || ! "$bb" --list >/dev/null 2>&1; then
  echo "build-busybox-image: $bb is missing (apt-get install -y busybox-static)" >&2
  exit 1
fi
# A dynamically linked busybox would not run in an image that has no libc.
if command -v file >/dev/null 2>&1 && ! file -L "$bb" | grep -q 'static'; then
  echo "build-busybox-image: $bb is not statically linked (install busybox-static, not busybox)" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/skiff-bb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/rootfs
umask 022
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/root" "$root/var"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$bb" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
# --list-full gives each applet's conventional place (bin/sh, usr/bin/env, sbin/ip, ...).
for p in $("$bb" --list-full); do
  [ "$p" = bin/busybox ] && continue
  ln -s /bin/busybox "$root/$p"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
chmod 0644 "$root/etc/passwd" "$root/etc/group"

tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=gnu -C "$root" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -9 <"$work/layer.tar" >"$work/layer.tar.gz"

rm -rf "$out"
mkdir -p "$out/blobs/sha256"
put() { # file -> prints "digest size", stores the blob
  d=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$out/blobs/sha256/$d"
  echo "$d $(wc -c <"$1" | tr -d ' ')"
}
set -- $(put "$work/layer.tar.gz"); layer=$1; layer_size=$2

printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"hack/build-busybox-image.sh"}]}' \
  "$diff_id" >"$work/config.json"
set -- $(put "$work/config.json"); config=$1; config_size=$2

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
set -- $(put "$work/manifest.json"); manifest=$1; manifest_size=$2

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$manifest_size" "$ref" >"$out/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
echo "manifest=sha256:$manifest config=sha256:$config layer=sha256:$layer diff_id=sha256:$diff_id"
