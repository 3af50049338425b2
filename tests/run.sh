#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need
# (system packages when root, the project with its export and test extras),
# then runs pytest. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
if { ! command -v mosquitto || ! command -v tesseract; } >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto \
     tesseract-ocr fonts-dejavu-core >/dev/null) \
    || echo "warning: could not install mosquitto/tesseract-ocr; the MQTT tests will be skipped, the print-judge tests fail" >&2
fi
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q -e '.[export,test,bench]'
python3 -m pytest "$@"
