"""A class-per-folder tree (UCMerced, AID: ROOT/<class>/<image>) → scene records with the class list in the
prompt, in GeoChat's wording; the record id is `<class>/<file stem>`, as GeoChat's question ids are."""
from __future__ import annotations

from pathlib import Path

from ..tasks.scene import TASK as SCENE, scene_prompt
from .common import Conversion

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


def convert_scene_folders(root: Path, out_dir: Path) -> Conversion:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(f"{root} has no class folders: expected ROOT/<class>/<image>")
    classes = [folder.name for folder in folders]
    conversion = Conversion(out_dir)
    records = []
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                conversion.skip("not an image", str(path))
                continue
            records.append({"id": f"{folder.name}/{path.stem}", "image": conversion.relative(path),
                            "conversations": [{"from": "human", "value": scene_prompt(classes)},
                                              {"from": "gpt", "value": folder.name}],
                            "metadata": {"task": SCENE.name, "classes": classes, "source": root.name}})
    conversion.write("scene.json", records)
    return conversion
