"""A tiny model bundle built without torch: numpy weights and the `onnx`
helper API give a small convolutional denoiser with the exported graph's
contract (inputs x, sigma, cond; output denoised; the EDM preconditioning
inside the graph), then the runtime's own quantiser (ONNX Runtime QDQ) and
OpenVINO's converter give the INT8 models, and the manifest is written the
way export/bundle_builder.py writes it. Random weights: it exercises the
runtime (agent, updates, CLI, backends), it is not the product. It needs only
the runtime's dependencies plus `onnx`, so these tests run wherever the
runtime runs; the torch toolchain keeps its own tests (test_export.py,
test_training.py)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

SIGMA_DATA = 0.5
GRANULARITY = 4  # SpaceToDepth(2) then one stride-2 level


def _initializers(rng: np.random.Generator) -> dict[str, np.ndarray]:
    def conv(out_ch: int, in_ch: int, k: int = 3) -> np.ndarray:
        return (rng.normal(0, 1, (out_ch, in_ch, k, k)) / np.sqrt(in_ch * k * k)).astype(np.float32)

    return {"w1": conv(16, 24), "b1": (rng.normal(0, 0.05, 16)).astype(np.float32),
            "w_noise": rng.normal(0, 0.2, (1, 16, 1, 1)).astype(np.float32),
            "w2": conv(16, 16), "b2": np.zeros(16, np.float32),
            "w3": conv(12, 16), "b3": np.zeros(12, np.float32),
            "shape_s": np.array([-1, 1, 1, 1], np.int64), "sd2": np.array(SIGMA_DATA ** 2, np.float32),
            "sd": np.array(SIGMA_DATA, np.float32), "one": np.array(1.0, np.float32),
            "two": np.array(2.0, np.float32), "quarter": np.array(0.25, np.float32),
            "up": np.array([1.0, 1.0, 2.0, 2.0], np.float32)}


def denoiser_graph(seed: int = 0, drift: float = 0.0):
    """D(x, sigma, cond) = c_skip x + c_out F(c_in x, c_noise, cond), F a
    two-level conv net (unshuffle 2, one stride-2 level, FiLM on log sigma).
    ``drift`` > 0 perturbs every convolution weight by that fraction of its
    own scale (a model that no longer matches the seed's network)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = _initializers(np.random.default_rng(seed))
    if drift:
        noise = np.random.default_rng(seed + 1000)
        for name in ("w1", "w2", "w3"):
            w = inits[name]
            inits[name] = (w + drift * w.std() * noise.normal(0, 1, w.shape)).astype(np.float32)
    n = helper.make_node
    nodes = [
        n("Reshape", ["sigma", "shape_s"], ["s"]),
        n("Mul", ["s", "s"], ["s2"]), n("Add", ["s2", "sd2"], ["v"]), n("Sqrt", ["v"], ["r"]),
        n("Div", ["one", "r"], ["c_in"]), n("Div", ["sd2", "v"], ["c_skip"]),
        n("Mul", ["s", "sd"], ["s_sd"]), n("Div", ["s_sd", "r"], ["c_out"]),
        n("Log", ["s"], ["log_s"]), n("Mul", ["log_s", "quarter"], ["c_noise"]),
        n("Mul", ["x", "c_in"], ["x_in"]),
        n("Mul", ["cond", "two"], ["cond2"]), n("Sub", ["cond2", "one"], ["cond_n"]),
        n("Concat", ["x_in", "cond_n"], ["h0"], axis=1),
        n("SpaceToDepth", ["h0"], ["u"], blocksize=2),
        n("Conv", ["u", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        n("Mul", ["c_noise", "w_noise"], ["film"]), n("Add", ["c1", "film"], ["c1f"]), n("Relu", ["c1f"], ["a1"]),
        n("Conv", ["a1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]), n("Relu", ["c2"], ["a2"]),
        n("Resize", ["a2", "", "up"], ["a2u"], mode="nearest"),
        n("Add", ["a1", "a2u"], ["m"]),
        n("Conv", ["m", "w3", "b3"], ["c3"], pads=[1, 1, 1, 1]),
        n("DepthToSpace", ["c3"], ["f"], blocksize=2, mode="DCR"),
        n("Mul", ["c_skip", "x"], ["skip"]), n("Mul", ["c_out", "f"], ["res"]),
        n("Add", ["skip", "res"], ["denoised"]),
    ]
    image = ["batch", 3, "height", "width"]
    graph = helper.make_graph(
        nodes, "tiny_denoiser",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, image),
         helper.make_tensor_value_info("sigma", TensorProto.FLOAT, ["batch"]),
         helper.make_tensor_value_info("cond", TensorProto.FLOAT, image)],
        [helper.make_tensor_value_info("denoised", TensorProto.FLOAT, image)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests/tiny_onnx")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def parameters(seed: int = 0) -> int:
    return sum(v.size for k, v in _initializers(np.random.default_rng(seed)).items() if k[0] in "wb")


def macs_per_pixel() -> float:
    """Multiply-accumulates per full-resolution pixel: conv1 and conv3 at 1/2
    resolution (1/4 of the pixels), conv2 at 1/4 resolution (1/16)."""
    w = _initializers(np.random.default_rng(0))
    return float((w["w1"].size + w["w3"].size) / 4 + w["w2"].size / 16)


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build_tiny_bundle(out: Path, calibration_frames: list[np.ndarray], reference_frame: np.ndarray,
                      sigmas: dict[int, list[float]], seed: int = 0, name: str = "tiny-test",
                      version_code: int = 1) -> Path:
    """Write a verified bundle folder ``out`` (FP32 + INT8 for both runtimes)."""
    import onnx
    import openvino as ov
    import onnxruntime as ort

    from calibration.gate import write_reference
    from calibration.quantize import crops_for_calibration, quantize_onnxruntime, record_inputs
    from edge_agent.runtime.bundle import load_bundle, write_manifest

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    work.chmod(0o755)
    try:
        fp32 = work / "model_fp32.onnx"
        onnx.save(denoiser_graph(seed), str(fp32))
        session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])

        def denoise(x: np.ndarray, sigma: np.ndarray, cond: np.ndarray) -> np.ndarray:
            return session.run(["denoised"], {"x": x, "sigma": sigma, "cond": cond})[0]

        inputs = record_inputs(denoise, "euler", sigmas, crops_for_calibration(calibration_frames, (64, 64)), 0)
        quantize_onnxruntime(fp32, work / "model_int8.onnx", inputs)
        (work / "openvino").mkdir()
        ov.save_model(ov.convert_model(str(work / "model_int8.onnx")), str(work / "openvino" / "model_int8.xml"),
                      compress_to_fp16=False)
        manifest: dict[str, Any] = {
            "name": name, "version": f"0.{version_code}.0", "version_code": version_code, "created": "2026-01-01T00:00:00+00:00",
            "sampler": {"name": "euler", "sigmas": {str(k): v for k, v in sigmas.items()}, "default_steps": 2,
                        "default_seed": 0, "seed_policy": "fixed: noise depends only on (seed, frame size); one seed per stream"},
            "io": {"colour_order": "RGB", "layout": "NCHW", "cond_range": [0.0, 1.0], "data_range": [-1.0, 1.0],
                   "tile": [64, 64], "tile_overlap": 16, "granularity": GRANULARITY,
                   "inputs": {"x": "noisy image, data range", "sigma": "noise level per batch item",
                              "cond": "night frame, cond range"}, "output": "denoised"},
            "models": {"fp32": {"onnx": "model_fp32.onnx"},
                       "int8": {"onnx": "model_int8.onnx", "openvino": "openvino/model_int8.xml"}},
            "provenance": {"commit": _git_commit(), "builder": "tests/tiny_onnx.py", "calibration_inputs": len(inputs),
                           "macs_per_pixel": macs_per_pixel(), "parameters": parameters()},
            "metrics": {},
            "settings": {"uncertainty": {"samples": 4, "scale": 8.0},
                         "temporal": {"strength": 0.95, "motion_low": 2.0, "motion_high": 4.0}},
        }
        write_manifest(work, manifest)
        manifest["reference"] = write_reference(work, reference_frame)
        write_manifest(work, manifest)
        load_bundle(work)
        shutil.rmtree(out, ignore_errors=True)
        work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def with_drifted_int8(bundle: Path, out: Path, drift: float, seed: int = 0) -> Path:
    """A copy of ``bundle`` whose INT8 models (both runtimes) are quantised
    from the same network with perturbed weights, as a broken calibration or
    a mixed-up file would give: the FP32 model is unchanged, so the INT8
    outputs really drift from it. The manifest lists the new files."""
    import onnx
    import openvino as ov
    import onnxruntime as ort

    from calibration.quantize import crops_for_calibration, quantize_onnxruntime, record_inputs
    from edge_agent.runtime.bundle import load_bundle, write_manifest
    from conftest import night_image

    shutil.copytree(bundle, out)
    manifest = load_bundle(out).manifest
    drifted = out.parent / f"{out.name}.drifted_fp32.onnx"
    onnx.save(denoiser_graph(seed, drift), str(drifted))
    session = ort.InferenceSession(str(drifted), providers=["CPUExecutionProvider"])
    sigmas = {int(k): v for k, v in manifest["sampler"]["sigmas"].items()}
    inputs = record_inputs(lambda x, s, c: session.run(["denoised"], {"x": x, "sigma": s, "cond": c})[0], "euler",
                           sigmas, crops_for_calibration([night_image(96, 128, s) for s in range(2)], (64, 64)), 0)
    quantize_onnxruntime(drifted, out / "model_int8.onnx", inputs)
    for f in (out / "openvino").iterdir():
        f.unlink()
    ov.save_model(ov.convert_model(str(out / "model_int8.onnx")), str(out / "openvino" / "model_int8.xml"),
                  compress_to_fp16=False)
    drifted.unlink()
    manifest.pop("files")
    write_manifest(out, manifest)
    load_bundle(out)
    return out


