# The images the engine's tests deploy, built FROM scratch (nothing can be pulled) and pushed to
# the local registry (20-registry.sh):
# - $BLUEGREEN_TEST_REGISTRY/bga-testsvc:v1..v3 and :demo: the static test service (testsvc/),
#   VERSION baked in, faults selected by env at run time (see testsvc/main.rs);
# - $BLUEGREEN_TEST_REGISTRY/bga-haproxy:test: Debian's haproxy and its libraries in the
#   official image's layout (haproxy at /usr/local/sbin, config in /usr/local/etc/haproxy),
#   running as a non-root user by default. Exported as BLUEGREEN_TEST_PROXY_IMAGE;
# - $BLUEGREEN_TEST_AUTH_IMAGE: v2 again, in the registry that requires a login
#   (21-registry-auth.sh), pushed with a Docker config of its own (the machine's ~/.docker is
#   untouched) and untagged locally, so a test starts from a daemon that has to pull it.
# - $BLUEGREEN_TEST_REGISTRY/bga-testsvc-pg:v1, v2: the test service with Debian's psql and its
#   libraries beside it (no entrypoint), the app image of the release-phase migrations;
# Idempotent: rebuilds only when testsvc/main.rs, this file or the haproxy binary changed.
: "${BLUEGREEN_TEST_REGISTRY:?run scripts/test (20-registry.sh exports BLUEGREEN_TEST_REGISTRY)}"
: "${BLUEGREEN_TEST_STATE:?run scripts/test (it exports BLUEGREEN_TEST_STATE)}"
export BLUEGREEN_TEST_IMAGE_REPO="$BLUEGREEN_TEST_REGISTRY/bga-testsvc"
export BLUEGREEN_TEST_PROXY_IMAGE="$BLUEGREEN_TEST_REGISTRY/bga-haproxy:test"

bga_images_build() {
  local root dir stamp want
  root="$(pwd)"
  dir="$BLUEGREEN_TEST_STATE/images"
  mkdir -p "$dir"
  stamp="$dir/stamp"
  want="$(cat testsvc/main.rs scripts/setup.d/30-test-images.sh scripts/lib/scratch-image.sh /usr/sbin/haproxy | sha256sum | cut -c1-16)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
    && curl -fsS -o /dev/null "http://$BLUEGREEN_TEST_REGISTRY/v2/bga-testsvc/manifests/v1" \
    && docker image inspect "$BLUEGREEN_TEST_PROXY_IMAGE" >/dev/null 2>&1; then
    return 0
  fi
  command -v haproxy >/dev/null || { echo "haproxy not found: run scripts/install-deps" >&2; return 1; }
  rustc -O -C target-feature=+crt-static --edition 2021 -o "$dir/testsvc" "$root/testsvc/main.rs" || return 1
  # shellcheck source=/dev/null
  source scripts/lib/scratch-image.sh
  local v
  for v in v1 v2 v3 demo; do
    scratch_image "$BLUEGREEN_TEST_IMAGE_REPO:$v" "$dir/ctx-testsvc" \
      "ENV VERSION=$v PORT=8080
USER 65534:65534
ENTRYPOINT [\"/testsvc\"]" -- "$dir/testsvc:/testsvc" || return 1
    docker push -q "$BLUEGREEN_TEST_IMAGE_REPO:$v" >/dev/null || return 1
  done
  # The app with Debian's psql beside it, for the release phase's migrations: no entrypoint,
  # so a release command names its program.
  local psql
  psql="$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -1)"
  [ -x "$psql" ] || { echo "psql not found: run scripts/install-deps" >&2; return 1; }
  for v in v1 v2; do
    scratch_image "$BLUEGREEN_TEST_IMAGE_REPO-pg:$v" "$dir/ctx-testsvc-pg" \
      "ENV VERSION=$v PORT=8080
USER 65534:65534
CMD [\"/testsvc\"]" -- "$dir/testsvc:/testsvc" "$psql:/usr/bin/psql" || return 1
    docker push -q "$BLUEGREEN_TEST_IMAGE_REPO-pg:$v" >/dev/null || return 1
  done
  mkdir -p "$dir/haproxy-etc"
  cat >"$dir/haproxy-etc/haproxy.cfg" <<'CFG'
global
  log stdout format raw local0
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend default
  bind :8080
  http-request return status 200 content-type text/plain string "haproxy test image\n"
CFG
  scratch_image "$BLUEGREEN_TEST_PROXY_IMAGE" "$dir/ctx-haproxy" \
    'USER 65534:65534
STOPSIGNAL SIGUSR1
ENTRYPOINT []
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -- \
    /usr/sbin/haproxy:/usr/local/sbin/haproxy \
    "$dir/haproxy-etc/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg" || return 1
  docker push -q "$BLUEGREEN_TEST_PROXY_IMAGE" >/dev/null || return 1
  echo "$want" >"$stamp"
}
bga_images_build || { echo "building the test images failed" >&2; exit 1; }

bga_auth_image_push() {
  local login="$BLUEGREEN_TEST_STATE/registry-auth-push" id
  id="$(docker image inspect -f '{{.Id}}' "$BLUEGREEN_TEST_IMAGE_REPO:v2")" || return 1
  if [ "$(cat "$login/pushed" 2>/dev/null)" = "$id" ] \
    && curl -fsS -o /dev/null -u "$BLUEGREEN_TEST_AUTH_USER:$BLUEGREEN_TEST_AUTH_PASSWORD" \
      "http://$BLUEGREEN_TEST_AUTH_REGISTRY/v2/bga-private/manifests/v2" 2>/dev/null; then
    return 0
  fi
  mkdir -p "$login"
  docker tag "$BLUEGREEN_TEST_IMAGE_REPO:v2" "$BLUEGREEN_TEST_AUTH_IMAGE" || return 1
  printf '%s' "$BLUEGREEN_TEST_AUTH_PASSWORD" \
    | DOCKER_CONFIG="$login" docker login -u "$BLUEGREEN_TEST_AUTH_USER" --password-stdin \
      "$BLUEGREEN_TEST_AUTH_REGISTRY" >/dev/null 2>&1 \
    || { echo "docker login to $BLUEGREEN_TEST_AUTH_REGISTRY failed" >&2; return 1; }
  DOCKER_CONFIG="$login" docker push -q "$BLUEGREEN_TEST_AUTH_IMAGE" >/dev/null || return 1
  docker rmi "$BLUEGREEN_TEST_AUTH_IMAGE" >/dev/null || return 1
  echo "$id" >"$login/pushed"
}
if [ -n "${BLUEGREEN_TEST_AUTH_REGISTRY:-}" ]; then
  bga_auth_image_push || { echo "pushing $BLUEGREEN_TEST_AUTH_IMAGE failed" >&2; exit 1; }
fi
