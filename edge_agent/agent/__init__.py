"""The on-camera agent: camera -> enhancement -> outputs, with health,
commands and model updates between frames.

``loop`` (the Agent: owns the frame loop and its state), ``camera`` (latest
frame, reconnect, watchdog on the stream), ``publisher`` (what leaves the
box: metadata, snapshots, health, retained state), ``segments`` (enhanced
video on disk), ``handlers`` (the remote commands, registered by name),
``health`` (figures), ``systemd`` (READY/WATCHDOG).
"""
