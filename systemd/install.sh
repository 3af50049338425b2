#!/usr/bin/env bash
# Install the agent as a systemd service, on a running box or into an image.
#
#   sudo systemd/install.sh                      # this box: venv, unit, config, enable + start
#   sudo systemd/install.sh --root /mnt/rootfs   # a box image being flashed: enabled at its first boot
#
# Options: --wheel FILE (install this wheel instead of the checkout), --skip-python (unit and
# config only, e.g. when the image already has the venv), --no-start.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root="" wheel="$here/.." skip_python=0 start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --wheel) wheel="$2"; shift 2 ;;
    --skip-python) skip_python=1; shift ;;
    --no-start) start=0; shift ;;
    *) echo "error: unknown option $1; allowed: --root DIR, --wheel FILE, --skip-python, --no-start" >&2; exit 2 ;;
  esac
done
prefix="$root/opt/edge-agent"
etc="$root/etc/edge-agent"
if [ "$skip_python" = 0 ]; then
  python3 -m venv "$prefix/venv"
  "$prefix/venv/bin/pip" install -q "$wheel"
  install -m 0644 "$here/../README.md" "$prefix/README.md"
fi
install -d -m 0755 "$etc" "$root/etc/systemd/system"
[ -f "$etc/agent.yaml" ] || install -m 0644 "$here/agent.example.yaml" "$etc/agent.yaml"
[ -f "$etc/mqtt-password" ] || install -m 0600 /dev/null "$etc/mqtt-password"   # fill in: LoadCredential reads it
install -m 0644 "$here/edge-agent.service" "$root/etc/systemd/system/edge-agent.service"
install -m 0644 "$here/edge-agent-recovery.service" "$root/etc/systemd/system/edge-agent-recovery.service"
if [ -n "$root" ]; then
  systemctl --root="$root" enable edge-agent.service
  echo "installed into $root: edit $etc/agent.yaml before the first boot"
else
  systemctl daemon-reload
  systemctl enable edge-agent.service
  if [ "$start" = 1 ] && "$prefix/venv/bin/edge-agent" config validate "$etc/agent.yaml"; then
    systemctl restart edge-agent.service
  else
    echo "enabled; edit $etc/agent.yaml, then: systemctl start edge-agent"
  fi
fi
