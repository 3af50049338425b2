"""`edge-agent bundle keygen|sign|verify|inspect|pack`: for fleet managers."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import BundleError
from ..runtime.bundle import SIGNATURE, load_bundle, pack_archive
from ..updates.signing import generate_keypair, load_private_key, load_public_key, sign_bundle, verify_bundle_signature
from .options import samples_per_frame, tone_anchored


def register(sub: argparse._SubParsersAction) -> None:
    """Add `bundle keygen|sign|verify|inspect|pack` to the command tree."""
    p = sub.add_parser("bundle", help="keys, signatures and inspection of model bundles")
    verbs = p.add_subparsers(dest="verb", required=True, parser_class=type(p))
    k = verbs.add_parser("keygen", help="make an Ed25519 key pair (NAME.key, NAME.pub)")
    k.add_argument("--out", type=Path, required=True, help="folder for the keys")
    k.add_argument("--name", default="fleet")
    k.set_defaults(run=_keygen)
    s = verbs.add_parser("sign", help="sign a bundle's manifest (writes manifest.json.sig)")
    s.add_argument("bundle", type=Path)
    s.add_argument("--key", type=Path, required=True)
    s.set_defaults(run=_sign)
    v = verbs.add_parser("verify", help="verify every file and the signature against trusted keys")
    v.add_argument("bundle", type=Path)
    v.add_argument("--pubkey", type=Path, action="append", required=True, help="trusted public key (repeatable)")
    v.set_defaults(run=_verify)
    i = verbs.add_parser("inspect", help="show a bundle's manifest")
    i.add_argument("bundle", type=Path)
    i.add_argument("--json", action="store_true")
    i.set_defaults(run=_inspect)
    a = verbs.add_parser("pack", help="make the single-file .tar transfer form")
    a.add_argument("bundle", type=Path)
    a.add_argument("-o", "--output", type=Path, required=True)
    a.set_defaults(run=_pack)


def _keygen(args: argparse.Namespace) -> int:
    private, public = generate_keypair(args.out, args.name)
    print(f"private key {private} (keep it off the boxes), public key {public} (put it in each box's config)")
    return 0


def _sign(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)  # never sign a bundle whose files do not match its manifest
    print(f"signed {bundle.name} {bundle.version} -> {sign_bundle(bundle.root, load_private_key(args.key))}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    try:
        signer = verify_bundle_signature(bundle.root, [load_public_key(p) for p in args.pubkey])
    except BundleError as exc:
        raise BundleError(f"model bundle {args.bundle}: {exc}") from None
    print(f"ok: {bundle.name} {bundle.version} (code {bundle.version_code}), {len(bundle.manifest['files'])} files "
          f"verified, signed by key {signer}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    m = bundle.manifest
    sig_path = bundle.root / SIGNATURE
    signed_by = json.loads(sig_path.read_text()).get("key_id") if sig_path.exists() else None
    if args.json:
        print(json.dumps({**m, "signed_by": signed_by}, indent=1))
        return 0
    size = sum(f["size"] for f in m["files"].values())
    print(f"{m['name']} {m['version']} (version code {m['version_code']}), {size / 1e6:.2f} MB, "
          f"{'signed by ' + signed_by if signed_by else 'unsigned'}")
    print(f"  sampler {m['sampler']['name']}, steps {bundle.sampler.steps} (default {bundle.sampler.default_steps}), "
          f"seed {bundle.sampler.default_seed}, {samples_per_frame(bundle.sampler.average, bundle.sampler.mirror)}"
          f"{tone_anchored(bundle.sampler.tone_anchor)}")
    print(f"  io {bundle.io.colour_order} {bundle.io.layout}, tile {bundle.io.tile[1]}x{bundle.io.tile[0]}, "
          f"granularity {bundle.io.granularity}; precisions {', '.join(bundle.precisions)}")
    for rel, meta in sorted(m["files"].items()):
        print(f"  {meta['size']:>10}  {meta['sha256'][:16]}  {rel}")
    for key, value in m.get("metrics", {}).items():
        print(f"  metric {key}: {value}")
    return 0


def _pack(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    print(pack_archive(bundle.root, args.output))
    return 0
