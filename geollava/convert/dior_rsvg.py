"""DIOR-RSVG (ZhanYang-nwpu/RSVG-pytorch) → referring records of one split, images referred to in place.

    DIR/Annotations/<image>.xml   <annotation><filename/><size><width/><height/></size>
                                  <object><name/><bndbox><xmin/><ymin/><xmax/><ymax/></bndbox><description/></object>...
    DIR/JPEGImages/<filename>     800 x 800
    DIR/{train,val,test}.txt      one number a line: an object's position in a count that runs over the XML files in
                                  sorted order and their objects in order (as the benchmark's loader counts them)

Each object of the split becomes "[refer] Give me the location of <p> description </p>" → its box on GeoChat's
0-100 grid; the exact pixel box is kept (`metadata.box_pixels`) and scored against (Pr@0.5..0.9, meanIoU, cumIoU),
with the image's size from the XML (`metadata.image_size`), so a score without the images is in the same pixels.
A record whose image is missing is skipped and counted.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..tasks.refer import TASK as REFER
from ..geometry.boxes import GRID, Box, format_boxes
from .common import Conversion

SPLITS = ("train", "val", "test")


def convert_dior_rsvg(src: Path, out_dir: Path, split: str) -> Conversion:
    if split not in SPLITS:
        raise ValueError(f"--split must be one of {', '.join(SPLITS)} for dior-rsvg, got {split!r}")
    listed = src / f"{split}.txt"
    if not listed.is_file() or not (src / "Annotations").is_dir():
        raise FileNotFoundError(f"{src} must hold Annotations/*.xml, JPEGImages/ and {split}.txt")
    wanted = {int(line) for line in listed.read_text().split() if line.strip().isdigit()}
    conversion, records, count = Conversion(out_dir), [], 0
    for xml in sorted((src / "Annotations").glob("*.xml")):
        try:
            root = ET.parse(xml).getroot()
        except ET.ParseError as e:  # its objects could not be counted: every later position would be wrong
            raise ValueError(f"{xml}: not readable XML ({e}); the split files count the objects of every XML "
                             "file in order, so the split cannot be read past it: restore the file") from None
        for member in root.findall("object"):
            if count in wanted:
                record = _record(src, root, member, count, conversion)
                if record is not None:
                    records.append(record)
            count += 1
    conversion.write(f"dior_rsvg_{split}.json", records)
    return conversion


def _record(src: Path, root, member, index: int, conversion: Conversion) -> dict | None:
    image = src / "JPEGImages" / root.findtext("filename", "")
    if not image.is_file():
        conversion.skip("missing image", f"object {index}: {image}")
        return None
    box = [int(float(member.findtext(f"bndbox/{k}", "0"))) for k in ("xmin", "ymin", "xmax", "ymax")]
    width, height = (int(float(root.findtext(f"size/{k}", "800"))) for k in ("width", "height"))
    grid = Box(*(min(GRID, max(0, round(v * GRID / side))) for v, side in zip(box, (width, height, width, height))))
    description = (member.findtext("description") or "").strip()
    return {"id": f"dior_rsvg_{index}", "image": conversion.relative(image),
            "conversations": [{"from": "human", "value": REFER.question(description)},
                              {"from": "gpt", "value": format_boxes([grid])}],
            "metadata": {"task": REFER.name, "benchmark": "dior-rsvg", "box_pixels": box, "image_size": [width, height],
                         "object_class": member.findtext("name"), "object_index": index}}
