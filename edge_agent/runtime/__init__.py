"""Frame in, frame out: what `edge-agent enhance` and the on-camera agent share.

``bundle`` (the model and its settings, verified) -> ``enhancer`` (pad/tile,
seeded noise) -> ``sampler`` (Euler/Heun over a denoiser callable) ->
``backends`` (OpenVINO, ONNX Runtime) and back; ``temporal`` filters a
stream, ``forensic`` measures where detail may be invented. No MQTT, no CLI,
no agent state: this room imports only the shared modules beside it
(errors, fsutil), so export/, calibration/ and benchmarks/ can use it
on its own.
"""
