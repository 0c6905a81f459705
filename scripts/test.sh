#!/usr/bin/env bash
# Run the test suite (installs the environment first if needed).
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -k frames -x    # any pytest arguments pass through
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$REPO_ROOT"
set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "[test] pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
