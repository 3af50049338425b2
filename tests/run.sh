#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs everything the tests need
# (system packages when root; a clear failure when they are missing and this
# is not root), PyTorch CPU and the project with its export, test and bench
# extras, then runs pytest with skips reported (-rs) and --fail-on-skip: a
# test that skips fails the run unless its reason is on the allow-list in
# tests/skip_guard.py (hardware CI does not have: an NPU, a GPU).
# This is the README's test command and what CI runs (.ci/run).
# Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
# what each system tool is for: the MQTT tests (mosquitto, also its TLS
# listeners), the print judge (tesseract-ocr + a font), the unit checks
# (systemd-analyze, systemctl)
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
{ command -v systemd-analyze && command -v systemctl; } >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "error: the test suite needs these Debian packages: ${need[*]}" >&2
    echo "       run this script as root (it installs them with apt-get), or: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
fi
# PyTorch 2.13.0, CPU build (the export/training tests); PyPI's wheel when the
# PyTorch index cannot be reached
if ! python3 -c 'import torch, sys; sys.exit(not torch.__version__.startswith("2.13.0"))' 2>/dev/null; then
  python3 -m pip install -q --retries 1 --timeout 30 torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    || python3 -m pip install -q torch==2.13.0
fi
python3 -m pip install -q -e '.[export,test,bench]'
python3 -m pytest -rs --fail-on-skip "$@"
