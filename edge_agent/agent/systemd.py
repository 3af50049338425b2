"""sd_notify(3) without libsystemd: READY, WATCHDOG and STATUS datagrams, and
when the agent sends them."""
from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send ``message`` to $NOTIFY_SOCKET; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False


def watchdog_interval_s() -> float | None:
    """Half of WatchdogSec (systemd's advice), or None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 1e6 / 2


class ServiceNotifier:
    """What the agent tells systemd: READY after the first enhanced frame (not
    at start: a box that cannot enhance is not up), WATCHDOG fed by frame
    progress or a camera visibly reconnecting, never by a bare timer, so a
    hung inference or a hung stream read stops the feeding and systemd
    restarts the service. A dead MQTT network thread stops the feeding too
    (the agent's loop restarts it first; only a link that stays dead gets
    the service restarted)."""

    def __init__(self) -> None:
        self.ready = False
        self._last_watchdog = 0.0
        self._progress = False

    def waiting(self, source: str) -> None:
        """STATUS while no frame has come yet."""
        notify(f"STATUS=waiting for the first frame from {source}")

    def frame_done(self) -> None:
        """A frame went through: READY the first time, and the watchdog may be fed."""
        self._progress = True
        if not self.ready:
            self.ready = True
            notify("READY=1\nSTATUS=enhancing")

    def tick(self, now: float, camera_state: str, link_ok: bool = True) -> None:
        """Feed the watchdog when it is due, the loop made progress since and
        the MQTT link is healthy (its network thread runs)."""
        interval = watchdog_interval_s()
        if interval is not None and now - self._last_watchdog >= interval and link_ok:
            if self._progress or camera_state in ("connecting", "reconnecting"):
                notify("WATCHDOG=1")
                self._last_watchdog, self._progress = now, False

    def stopping(self) -> None:
        """Tell systemd the stop is deliberate."""
        notify("STOPPING=1")
