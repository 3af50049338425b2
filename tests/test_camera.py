"""Frame sources: a network camera that drops and returns, a stream that
hangs, the latest-frame policy, files and folders."""
from __future__ import annotations

import time

import cv2

from edge_agent.agent.camera import LatestFrameCamera
from edge_agent.config import CameraConfig

from conftest import night_image, write_video
from mjpeg_server import MjpegCamera
from mqtt_fixtures import free_port


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_network_camera_drops_and_returns():
    server = MjpegCamera(free_port()).start()
    cam = LatestFrameCamera(CameraConfig(source=server.url, reconnect_initial_s=0.2, reconnect_max_s=1.0, watchdog_s=3))
    cam.start()
    try:
        assert cam.latest(timeout=20) is not None and cam.state == "streaming"
        server.stop()
        wait_until(lambda: cam.state in ("reconnecting", "connecting"))
        time.sleep(1.5)  # several failed attempts with backoff
        server.start()
        wait_until(lambda: cam.state == "streaming" and cam.latest(timeout=1) is not None)
        assert cam.reconnects >= 1 and cam.last_error
    finally:
        cam.stop()
        server.stop()


def test_hung_stream_is_caught_by_the_watchdog():
    server = MjpegCamera(free_port()).start()
    cam = LatestFrameCamera(CameraConfig(source=server.url, reconnect_initial_s=0.2, reconnect_max_s=1.0, watchdog_s=1.0))
    cam.start()
    try:
        assert cam.latest(timeout=20) is not None
        server.paused.set()  # the read blocks: no error, no frame
        wait_until(lambda: cam.latest(timeout=0.2) is None and cam.watchdog_restarts >= 1, timeout=15)
        server.paused.clear()
        wait_until(lambda: cam.latest(timeout=1) is not None)
    finally:
        cam.stop()
        server.stop()


def test_latest_frame_policy_counts_drops(tmp_path):
    video = write_video(tmp_path / "v.avi", 40, fps=40)
    cam = LatestFrameCamera(CameraConfig(source=str(video)))
    cam.start()
    taken = []
    try:
        while not cam.ended:
            frame = cam.latest(timeout=2)
            if frame is not None:
                taken.append(frame.index)
                time.sleep(0.1)  # a slow enhancer: 4 camera frames per frame taken
    finally:
        cam.stop()
    assert taken == sorted(taken) and len(taken) < 40
    assert cam.dropped >= 20 and cam.frames_read == 40


def test_folder_source_and_loop(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), night_image(32, 48, i)[..., ::-1])
    cam = LatestFrameCamera(CameraConfig(source=str(tmp_path), loop=True))
    cam.start()
    try:
        wait_until(lambda: cam.frames_read >= 5, timeout=20)  # more than the folder holds: it looped
        assert cam.latest(timeout=2).rgb.shape == (32, 48, 3)
    finally:
        cam.stop()
