# The action image, as scripts/build-image assembles it offline (FROM scratch: the debug binary,
# its libraries, CA certificates). The same image is the GitHub Action (the contract test runs
# it as the runner does) and the host agent (the agent-container and SSM end-to-end tests).
# Docker's layer cache makes a rebuild of an unchanged binary a no-op.
export BLUEGREEN_TEST_ACTION_IMAGE="${BLUEGREEN_TEST_ACTION_IMAGE:-bluegreen-action:test}"
export BLUEGREEN_TEST_AGENT_IMAGE="$BLUEGREEN_TEST_ACTION_IMAGE"
export BLUEGREEN_TEST_SSM_AGENT_IMAGE="$BLUEGREEN_TEST_ACTION_IMAGE"
scripts/build-image "$BLUEGREEN_TEST_ACTION_IMAGE" >/dev/null \
  || { echo "building $BLUEGREEN_TEST_ACTION_IMAGE failed" >&2; exit 1; }
