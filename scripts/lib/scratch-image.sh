# Assembles a FROM scratch image from host binaries and the shared libraries they load.
#
# No base image can be pulled on the machines that build and test this project, so images are
# put together from what the host has: each binary, every library `ldd` lists for it, the
# dynamic loader, CA certificates, and any extra files.
#
# usage: scratch_image TAG CONTEXT_DIR DOCKERFILE_TAIL -- SRC:DEST ...
#   TAG              image tag to build
#   CONTEXT_DIR      empty directory to assemble the build context in
#   DOCKERFILE_TAIL  lines appended after `FROM scratch` and the COPY of the tree (ENTRYPOINT...)
#   SRC:DEST         host file and its path in the image; binaries get their libraries too
scratch_image() {
  local tag="$1" ctx="$2" tail="$3"
  shift 3
  [ "${1:-}" = "--" ] && shift
  rm -rf "$ctx" && mkdir -p "$ctx/root"
  local pair src dest lib
  for pair in "$@"; do
    src="${pair%%:*}"
    dest="${pair#*:}"
    mkdir -p "$ctx/root$(dirname "$dest")"
    cp -L "$src" "$ctx/root$dest"
    if [ -x "$src" ] && ldd "$src" >/dev/null 2>&1; then
      for lib in $(ldd "$src" | grep -o '/[^ ]*' | sort -u); do
        mkdir -p "$ctx/root$(dirname "$lib")"
        cp -L "$lib" "$ctx/root$lib"
      done
    fi
  done
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$ctx/root/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$ctx/root/etc/ssl/certs/"
  fi
  mkdir -p "$ctx/root/tmp" "$ctx/root/etc"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' >"$ctx/root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/root/etc/group"
  printf 'hosts: files dns\n' >"$ctx/root/etc/nsswitch.conf"
  printf 'FROM scratch\nCOPY root/ /\n%s\n' "$tail" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
}
