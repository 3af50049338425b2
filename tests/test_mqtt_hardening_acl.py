"""The broker side of the trust model, on a real Mosquitto with the shipped
example config and ACL (systemd/mosquitto/): client certificates name the
client, a box publishes only under its own topics and reads only its own and
the fleet's commands; the fleet manager may command any box."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from conftest import ROOT
from mqtt_fixtures import MOSQUITTO, Recorder, free_port

EXAMPLE = ROOT / "systemd" / "mosquitto"


@pytest.fixture()
def acl_broker(tmp_path):
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (tests/run.sh installs it)")
    from tls_certs import make_ca_and_server, make_client_cert
    certs = make_ca_and_server(tmp_path)
    clients = {name: make_client_cert(tmp_path, certs, name) for name in ("cam1", "cam2", "fleet-manager")}
    port = free_port()
    conf = (EXAMPLE / "edge-agent.conf").read_text()
    conf = (conf.replace("listener 8883", f"listener {port} 127.0.0.1")
            .replace("/etc/mosquitto/certs/fleet-ca.crt", certs["ca"]).replace("/etc/mosquitto/certs/broker.crt", certs["cert"])
            .replace("/etc/mosquitto/certs/broker.key", certs["key"])
            .replace("/etc/mosquitto/edge-agent.acl", str(EXAMPLE / "edge-agent.acl")))
    if os.geteuid() == 0:
        conf = "user root\n" + conf
    (tmp_path / "m.conf").write_text(conf)
    proc = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "m.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield port, certs, clients
    proc.terminate()
    proc.wait(timeout=10)


def client(port: int, certs: dict, cert: dict | None, topics: str | None = None) -> Recorder:
    deadline = time.monotonic() + 20
    while True:
        try:
            kw = {"ca_certs": certs["ca"]}
            if cert:
                kw.update(certfile=cert["cert"], keyfile=cert["key"])
            return Recorder(port, topics or "nothing/none", **kw)
        except (ConnectionRefusedError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_box_publishes_only_its_own_topics(acl_broker):
    port, certs, clients = acl_broker
    watcher = client(port, certs, clients["fleet-manager"], "cctv/#")
    cam1 = client(port, certs, clients["cam1"], "cctv/#")
    cam2 = client(port, certs, clients["cam2"])
    fleet = client(port, certs, clients["fleet-manager"])
    try:
        time.sleep(1)
        cam2.publish("cctv/cam1/cmd/restart", b"from cam2")  # another box commanding cam1: dropped
        cam2.publish("cctv/fleet/cmd/restart", b"from cam2")  # a box commanding the fleet: dropped
        cam2.publish("cctv/cam1/status", b"forged")  # a box speaking for another: dropped
        cam2.publish("cctv/cam2/status", b"online")  # its own status: delivered
        fleet.publish("cctv/cam1/cmd/health", b"from fleet")  # the fleet manager commands any box
        watcher.wait_for("cctv/cam2/status", lambda p: p == b"online", timeout=20)
        cam1.wait_for("cctv/cam1/cmd/health", timeout=20)
        time.sleep(1)
        assert cam1.payloads("cctv/cam1/cmd/restart") == [] and cam1.payloads("cctv/fleet/cmd/restart") == []
        assert watcher.payloads("cctv/cam1/status") == []
        assert cam1.payloads("cctv/cam2/status") == []  # a box does not read other boxes
    finally:
        for c in (watcher, cam1, cam2, fleet):
            c.close()


def test_no_certificate_no_connection(acl_broker):
    port, certs, _ = acl_broker
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.tls_set(ca_certs=certs["ca"])
    time.sleep(0.5)
    with pytest.raises(Exception):
        c.connect("127.0.0.1", port)
        c.loop(timeout=2)
        c.loop(timeout=2)
        assert c.is_connected()
