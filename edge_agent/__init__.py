"""Night-time CCTV enhancement on the edge box: the runtime (never imports torch).

The subpackages follow a frame's path (agent -> runtime -> outputs); which may
import which is in ARCHITECTURE.md and enforced by tests/test_architecture.py.
"""
__version__ = "0.1.0"
