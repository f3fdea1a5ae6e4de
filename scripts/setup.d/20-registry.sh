# The image registry tests pull from: Debian's docker-registry on loopback.
# Exports BLUEGREEN_TEST_REGISTRY (host:port, usable in image references).
BLUEGREEN_TEST_REGISTRY_PORT="${BLUEGREEN_TEST_REGISTRY_PORT:-5000}"
export BLUEGREEN_TEST_REGISTRY="127.0.0.1:${BLUEGREEN_TEST_REGISTRY_PORT}"
if ! curl -fsS -o /dev/null "http://$BLUEGREEN_TEST_REGISTRY/v2/" 2>/dev/null; then
  command -v docker-registry >/dev/null || { echo "docker-registry not found: run scripts/install-deps" >&2; exit 1; }
  mkdir -p "$BLUEGREEN_TEST_STATE/registry"
  cat >"$BLUEGREEN_TEST_STATE/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $BLUEGREEN_TEST_STATE/registry
  delete:
    enabled: true
http:
  addr: $BLUEGREEN_TEST_REGISTRY
YML
  nohup docker-registry serve "$BLUEGREEN_TEST_STATE/registry.yml" >"$BLUEGREEN_TEST_STATE/registry.log" 2>&1 &
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://$BLUEGREEN_TEST_REGISTRY/v2/" 2>/dev/null && break
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://$BLUEGREEN_TEST_REGISTRY/v2/" \
    || { echo "docker-registry did not start; see $BLUEGREEN_TEST_STATE/registry.log" >&2; exit 1; }
fi
