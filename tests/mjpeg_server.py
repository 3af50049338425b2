"""A network camera on loopback: MJPEG over HTTP (multipart/x-mixed-replace),
as many IP cameras serve it. It can be stopped and started again on the same
port to make the stream drop and return."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from conftest import night_image


class MjpegCamera:
    def __init__(self, port: int, fps: float = 10.0) -> None:
        self.port, self.fps = port, fps
        self.server: ThreadingHTTPServer | None = None
        self.paused = threading.Event()  # connection stays open, no frames: a hung stream
        frames = [night_image(64, 96, i) for i in range(8)]
        self.jpegs = [cv2.imencode(".jpg", f[..., ::-1])[1].tobytes() for f in frames]

    def start(self) -> "MjpegCamera":
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while camera.server is server:
                        if camera.paused.is_set():
                            time.sleep(0.05)
                            continue
                        jpeg = camera.jpegs[i % len(camera.jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        i += 1
                        time.sleep(1 / camera.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        server.allow_reuse_address = True
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()
