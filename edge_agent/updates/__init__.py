"""Signed model updates, both sides.

``protocol`` (the wire format and limits, shared by both sides), ``signing``
(Ed25519 over manifests), ``checks`` (what a box refuses before fetching),
``transfer`` (URL or MQTT chunks), ``install`` (unpack, verify, smoke-test,
off the loop), ``controller`` (offer -> install -> swap -> trial -> kept or
rolled back, driven by the agent through callbacks), ``store`` (installed
models, power-loss safe), ``fleet`` (the fleet manager's side).
"""
