"""Night-time CCTV enhancement on the edge box: the runtime (never imports torch)."""
__version__ = "0.1.0"
