# A second registry that requires a login: Debian's docker-registry behind htpasswd (bcrypt,
# the only hash it takes), on loopback, with one test image pushed to it.
# Exports BLUEGREEN_TEST_AUTH_REGISTRY (host:port), BLUEGREEN_TEST_AUTH_USER,
# BLUEGREEN_TEST_AUTH_PASSWORD and BLUEGREEN_TEST_AUTH_IMAGE (the test service's v2 there,
# pushed by 30-test-images.sh once it is built).
: "${BLUEGREEN_TEST_STATE:?run scripts/test (it exports BLUEGREEN_TEST_STATE)}"
BLUEGREEN_TEST_AUTH_REGISTRY_PORT="${BLUEGREEN_TEST_AUTH_REGISTRY_PORT:-$((${BLUEGREEN_TEST_REGISTRY_PORT:-5000} + 20))}"
export BLUEGREEN_TEST_AUTH_REGISTRY="127.0.0.1:${BLUEGREEN_TEST_AUTH_REGISTRY_PORT}"
export BLUEGREEN_TEST_AUTH_USER="bga-puller"
export BLUEGREEN_TEST_AUTH_PASSWORD="bga-registry-PLANTED-pass"
export BLUEGREEN_TEST_AUTH_IMAGE="$BLUEGREEN_TEST_AUTH_REGISTRY/bga-private:v2"

bga_auth_registry_up() {
  # Without credentials the registry answers 401: it is up (and asks for a login).
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$BLUEGREEN_TEST_AUTH_REGISTRY/v2/" 2>/dev/null)" = 401 ]
}

if ! bga_auth_registry_up; then
  command -v docker-registry >/dev/null || { echo "docker-registry not found: run scripts/install-deps" >&2; exit 1; }
  command -v htpasswd >/dev/null || { echo "htpasswd not found: run scripts/install-deps" >&2; exit 1; }
  mkdir -p "$BLUEGREEN_TEST_STATE/registry-auth"
  htpasswd -Bbn "$BLUEGREEN_TEST_AUTH_USER" "$BLUEGREEN_TEST_AUTH_PASSWORD" >"$BLUEGREEN_TEST_STATE/registry-auth.htpasswd"
  cat >"$BLUEGREEN_TEST_STATE/registry-auth.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $BLUEGREEN_TEST_STATE/registry-auth
auth:
  htpasswd:
    realm: bluegreen-test
    path: $BLUEGREEN_TEST_STATE/registry-auth.htpasswd
http:
  addr: $BLUEGREEN_TEST_AUTH_REGISTRY
YML
  nohup docker-registry serve "$BLUEGREEN_TEST_STATE/registry-auth.yml" >"$BLUEGREEN_TEST_STATE/registry-auth.log" 2>&1 &
  for _ in $(seq 1 100); do
    bga_auth_registry_up && break
    sleep 0.1
  done
  bga_auth_registry_up || { echo "the authenticated docker-registry did not start; see $BLUEGREEN_TEST_STATE/registry-auth.log" >&2; exit 1; }
fi
