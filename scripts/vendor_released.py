"""Maintainers: add a reference checkpoint's public files to geollava/models/released_files/ (what
`geollava model released` builds from). Users never run this.

    python scripts/vendor_released.py MODEL_ID FOLDER --licence "apache-2.0 (model card)" [--build copy]

FOLDER holds the files as published and a SOURCES.json: {"<file>": {"repo", "path", "commit", "sha256", "bytes",
"note"}} saying where each copy was taken from. Each file is stored gzipped under blobs/<sha256>.gz (shared
between checkpoints that publish the same file) and listed in <slug>.json with its source.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from pathlib import Path

from geollava.models.released import FILES, blob, slug


def vendor(model_id: str, folder: Path, licence: str, build: str, extra: dict) -> Path:
    sources = json.loads((folder / "SOURCES.json").read_text())
    files = {}
    for name in sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in ("SOURCES.json",)
                       and not p.name.endswith(".md")):
        data = (folder / name).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        source = sources.get(name)
        if source is None:
            raise SystemExit(f"{folder / name}: no entry in SOURCES.json (where was it taken from?)")
        if source.get("sha256", sha) != sha:
            raise SystemExit(f"{folder / name}: sha256 {sha} differs from SOURCES.json's {source['sha256']}")
        blob(sha).parent.mkdir(parents=True, exist_ok=True)
        if not blob(sha).exists():
            blob(sha).write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
        files[name] = {"sha256": sha, "bytes": len(data), **{k: source[k] for k in ("repo", "path", "commit")
                                                              if k in source},
                       **({"note": source["note"]} if source.get("note") else {})}
    manifest = {"id": model_id, "licence": licence, "build": build, **extra, "files": files}
    out = FILES / f"{slug(model_id)}.json"
    out.write_text(json.dumps(manifest, indent=1) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_id")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--licence", required=True)
    parser.add_argument("--build", default="copy", choices=("copy", "convert-geochat"))
    parser.add_argument("--extra", default="{}", help="more manifest keys, as JSON (e.g. the facts a file was "
                                                      "rebuilt from)")
    args = parser.parse_args()
    print(vendor(args.model_id, args.folder, args.licence, args.build, json.loads(args.extra)))


if __name__ == "__main__":
    main()
