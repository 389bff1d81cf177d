# shellcheck shell=bash
# The test image mesh/busybox:latest, built without a registry: a rootfs holding the host's static busybox
# with every applet hard-linked into /bin (httpd, nc, nslookup, wget, ping, ...), imported with CMD ["sh"].
# The tarball is cached in $LAB_ROOT/cache, keyed by the busybox binary and the recipe version.

IMAGE_RECIPE=1

# image_tar: REPLY = the cached tarball, built first if missing (atomic rename: safe for concurrent runs).
image_tar() {
  local bb=/bin/busybox key tar tmp
  [[ -x $bb ]] || die "$bb missing: apt-get install busybox-static"
  key=$(sha256sum "$bb")
  tar=$LAB_ROOT/cache/mesh-busybox-${key:0:16}-r$IMAGE_RECIPE.tar
  if [[ ! -s $tar ]]; then
    mkdir -p "$LAB_ROOT/cache"
    tmp=$(mktemp -d "$LAB_ROOT/cache/.build.XXXXXX")
    chmod 0755 "$tmp"                    # docker import keeps the mode of / (mktemp makes it 0700)
    mkdir -p "$tmp"/{bin,etc,root,tmp,www,proc,sys,dev,var/run}
    chmod 1777 "$tmp/tmp"
    cp "$bb" "$tmp/bin/busybox"
    "$tmp/bin/busybox" --install "$tmp/bin"   # hard links, so they resolve inside the image
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$tmp/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/etc/group"
    tar --numeric-owner --owner=0 --group=0 -C "$tmp" -cf "$tar.$$" . && mv -f "$tar.$$" "$tar"
    rm -rf --one-file-system -- "$tmp"
    [[ -s $tar ]] || die "could not build $tar"
  fi
  REPLY=$tar
}
