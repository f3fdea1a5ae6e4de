# The AWS API for the SDK calls: moto's server on loopback (ECR, SSM, EC2, ELBv2).
# Exports BLUEGREEN_TEST_MOTO_URL. Reuses a server already answering on the port.
BLUEGREEN_TEST_MOTO_PORT="${BLUEGREEN_TEST_MOTO_PORT:-5123}"
export BLUEGREEN_TEST_MOTO_URL="http://127.0.0.1:${BLUEGREEN_TEST_MOTO_PORT}"
if ! curl -fsS -o /dev/null "$BLUEGREEN_TEST_MOTO_URL/moto-api/data.json" 2>/dev/null; then
  moto_server="${BLUEGREEN_VENV:-.venv}/bin/moto_server"
  [ -x "$moto_server" ] || { echo "$moto_server not found: run scripts/install-deps" >&2; exit 1; }
  nohup "$moto_server" -H 127.0.0.1 -p "$BLUEGREEN_TEST_MOTO_PORT" >"$BLUEGREEN_TEST_STATE/moto.log" 2>&1 &
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$BLUEGREEN_TEST_MOTO_URL/moto-api/data.json" 2>/dev/null && break
    sleep 0.1
  done
  curl -fsS -o /dev/null "$BLUEGREEN_TEST_MOTO_URL/moto-api/data.json" \
    || { echo "moto did not start; see $BLUEGREEN_TEST_STATE/moto.log" >&2; exit 1; }
fi
