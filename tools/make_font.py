"""Build the Chinese font that ships with course_lib (run: python tools/make_font.py).

The course's plots are labelled in Chinese on every machine, so the glyphs
come with the package instead of from the system.  The source is the
Simplified Chinese face of Noto Sans CJK (OFL-1.1), taken from the
``noto-cjk-sans-otc`` wheel on PyPI.  A whole face is 16 MB; we keep:

- every character of GB 2312 (6,763 hanzi plus its punctuation and symbols),
  which covers everyday Simplified Chinese;
- ASCII, Latin-1, general punctuation, arrows, maths, box drawing, shapes,
  CJK punctuation and full-width forms;
- every other CJK character that appears in course_lib or the notebooks.

Layout tables and hinting are dropped (matplotlib uses neither), which
leaves about 1.6 MB.  The family is renamed, as the OFL asks of a modified
font, so it never shadows a full Noto Sans CJK installed on the system.
Characters outside the subset fall back to a system CJK font, if any.

The output (font and licence) goes to course_lib/viz/fontdata/.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib.viz.fonts import FONT_FAMILY, FONT_FILE, cjk_characters_in  # noqa: E402

OUT = ROOT / "course_lib" / "viz" / "fontdata"
SOURCE = "noto-cjk-sans-otc==0.0.1"
SOURCE_SHA256 = "44596df7f0c1590cb9c4cfe85b9213b7e91e1086a8a024f1a05df6d6badd33ec"
SOURCE_FACE = "Noto Sans CJK SC"

RANGES = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1
    (0x2000, 0x206F),  # general punctuation
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators
    (0x2460, 0x24FF),  # enclosed numbers
    (0x2500, 0x25FF),  # box drawing, block elements, geometric shapes
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0xFF00, 0xFFEF),  # full-width forms
]


def gb2312() -> set[int]:
    """Every character of GB 2312 (rows 0xA1-0xF7)."""
    found = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                found.add(ord(bytes([high, low]).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    return found


def course_characters() -> set[int]:
    """CJK characters in the library and the notebooks (they may be drawn)."""
    paths = [*ROOT.glob("course_lib/**/*.py"), *ROOT.glob("notebooks/*.ipynb")]
    return {ord(ch) for path in paths for ch in cjk_characters_in(path.read_text(encoding="utf-8"))}


def fetch_source(folder: Path) -> Path:
    """Download the source wheel with pip (honours PIP_INDEX_URL) and check its hash."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--dest", str(folder), SOURCE], check=True)
    wheel = next(folder.glob("noto_cjk_sans_otc-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        sys.exit(f"unexpected {wheel.name}: sha256 {digest}")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder)
    return folder


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = fetch_source(Path(tmp))
        collection = TTCollection(str(next(source.glob("noto_cjk_sans_otc/*.ttc"))))
        font = next(f for f in collection.fonts if f["name"].getDebugName(1) == SOURCE_FACE)
        licence = next(source.glob("noto_cjk_sans_otc-*.dist-info/licenses/LICENSE")).read_text()

        wanted = gb2312() | course_characters()
        for first, last in RANGES:
            wanted |= set(range(first, last + 1))
        options = subset.Options()
        options.layout_features = []
        options.hinting = False
        options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=wanted)
        subsetter.subset(font)
        font.recalcTimestamp = False  # the same input gives the same bytes

        names = font["name"]
        postscript = FONT_FAMILY.replace(" ", "") + "-Regular"
        for record in list(names.names):
            if record.nameID in (1, 4, 16):
                names.setName(FONT_FAMILY if record.nameID != 4 else f"{FONT_FAMILY} Regular",
                              record.nameID, record.platformID, record.platEncID, record.langID)
            elif record.nameID in (3, 6):
                names.setName(postscript, record.nameID, record.platformID, record.platEncID,
                              record.langID)
        font["CFF "].cff.fontNames = [postscript]

        OUT.mkdir(parents=True, exist_ok=True)
        font.save(OUT / FONT_FILE)
        (OUT / "OFL.txt").write_text(
            f"{FONT_FILE} is a subset of Noto Sans CJK SC 2.004 (Copyright 2014-2021 Adobe,\n"
            f"with Reserved Font Name 'Source'), made by tools/make_font.py and renamed\n"
            f"'{FONT_FAMILY}'. It is licensed under the SIL Open Font License 1.1:\n\n{licence}",
            encoding="utf-8")
        kept = len(font.getBestCmap())
        print(f"wrote {OUT / FONT_FILE}: {kept} characters, {(OUT / FONT_FILE).stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
