"""Cross-compile an export for a core: the model, dse's harness and startup, linked for the
generic memory map; the flash and static RAM of the linked image split between the model's
part (model.c and the library code it pulls in) and the harness's, from the linker map. The
same objects can be linked again for a smaller machine's memory."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

from dse.errors import DseError
from dse.export.c import float_literal
from dse.measure.cores import GENERIC_MEMORY, Core, Memory

OPTIMIZATION = "-O2"  # what a user ships (docs/measure.md: -Os is smaller and slower)
COMMON = ("-std=c99", "-ffp-contract=off", "-Wall", "-Wextra", "-pedantic", "-ffunction-sections",
          "-fdata-sections")
HARNESS_FILES = ("harness.o", "startup.o")
OBJECTS = ("model.o", *HARNESS_FILES)
GENERIC_STACK_BYTES = 64 << 10  # at the top of the generic map's SRAM
KINDS = ("text", "rodata", "data", "bss")


@dataclass(frozen=True)
class Image:
    """A linked image and where its bytes come from."""

    elf: Path
    core: Core
    bytes_by_part: dict[str, dict[str, int]]  # "model" | "harness" -> kind -> bytes

    def flash_bytes(self, part: str) -> int:
        """text + rodata + data (its initial values live in flash)."""
        kinds = self.bytes_by_part[part]
        return kinds["text"] + kinds["rodata"] + kinds["data"]

    def static_ram_bytes(self, part: str) -> int:
        kinds = self.bytes_by_part[part]
        return kinds["data"] + kinds["bss"]


def compiler() -> str:
    """arm-none-eabi-gcc, or one line saying how to install it."""
    found = shutil.which("arm-none-eabi-gcc")
    if found is None:
        raise DseError("Measuring needs the Arm cross-compiler: apt-get install gcc-arm-none-eabi "
                       "libnewlib-arm-none-eabi (Debian/Ubuntu).")
    return found


def harness_source(prefix: str, windows: np.ndarray) -> str:
    """The harness C with the golden windows embedded."""
    golden = ",\n".join(
        "    {" + ",\n     ".join("{" + ", ".join(float_literal(v) for v in step) + "}"
                                 for step in window) + "}" for window in windows)
    template = resources.files("dse.measure").joinpath("firmware", "harness.c.tmpl")
    return Template(template.read_text()).substitute(
        prefix=prefix, MACRO=prefix.upper(), windows=len(windows), golden=golden)


def build_image(export_dir: Path, core: Core, work_dir: Path, *, prefix: str,
                windows: np.ndarray, optimization: str = OPTIMIZATION) -> Image:
    """Compile model.c, the harness and the startup for ``core``; link; split the sizes."""
    gcc = compiler()
    firmware = resources.files("dse.measure").joinpath("firmware")
    (work_dir / "harness.c").write_text(harness_source(prefix, windows))
    (work_dir / "startup.c").write_text(firmware.joinpath("startup.c").read_text())
    flags = [*core.gcc_flags, optimization, *COMMON]
    sources = dict(zip(OBJECTS, (export_dir / "model.c", work_dir / "harness.c",
                                 work_dir / "startup.c")))
    for obj, source in sources.items():
        extra = ["-fno-tree-loop-distribute-patterns"] if obj == "startup.o" else []
        _run([gcc, *flags, *extra, f"-I{export_dir}", "-c", str(source), "-o",
              str(work_dir / obj)])
    elf = link(work_dir, core, GENERIC_MEMORY, stack_bytes=GENERIC_STACK_BYTES, name="image")
    return Image(elf, core, split_sizes(elf.with_suffix(".map").read_text()))


def link(work_dir: Path, core: Core, memory: Memory, *, stack_bytes: int, name: str) -> Path:
    """Link the objects compiled in ``work_dir`` for ``memory``, the stack at the top of its
    SRAM: ``name``.elf, with its linker script and map beside it."""
    script = resources.files("dse.measure").joinpath("firmware", "link.ld.tmpl").read_text()
    link_script, elf = work_dir / f"{name}.ld", work_dir / f"{name}.elf"
    link_script.write_text(Template(script).substitute(
        flash_bytes=memory.flash_bytes, ram_bytes=memory.ram_bytes, stack_bytes=stack_bytes))
    _run([compiler(), *core.gcc_flags, "-nostartfiles", "-T", str(link_script),
          "-Wl,--gc-sections", "-Xlinker", f"-Map={elf.with_suffix('.map')}",  # -Wl, splits at commas
          "--specs=nano.specs",
          *(str(work_dir / obj) for obj in OBJECTS), "-Wl,--start-group", "-lm", "-lc", "-lgcc",
          "-Wl,--end-group", "-o", str(elf)])
    return elf


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or "warning" in done.stderr:
        raise DseError(f"{Path(command[0]).name} failed: "
                       f"{(done.stderr.strip() or done.stdout.strip()).splitlines()[0]}")


_INPUT = re.compile(r"^ (\.[\w.\-]+|COMMON)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")


def split_sizes(link_map: str) -> dict[str, dict[str, int]]:
    """Bytes per part and kind from a GNU ld map: each input section's size, by the object
    it came from (the harness's two files, or the model: model.o and library members)."""
    parts = {part: dict.fromkeys(KINDS, 0) for part in ("model", "harness")}
    body = link_map.split("Linker script and memory map", 1)[-1]
    pending = None  # a long section name stands alone on its line; its numbers follow
    for line in body.splitlines():
        if re.fullmatch(r" (\.[\w.\-]+|COMMON)", line):
            pending = line.strip()
            continue
        match = _INPUT.match(line if pending is None else f" {pending} {line.strip()}")
        pending = None
        if not match or match.group(1) is None:
            continue
        name, size, origin = match.group(1), int(match.group(3), 16), match.group(4).strip()
        kind = _kind(name)
        if kind is None or size == 0:
            continue
        part = "harness" if Path(origin.split("(")[0]).name in HARNESS_FILES else "model"
        parts[part][kind] += size
    return parts


def _kind(section: str) -> str | None:
    if section.startswith((".text", ".ARM.exidx", ".vectors", ".glue", ".vfp11")):
        return "text"
    if section.startswith(".rodata"):
        return "rodata"
    if section.startswith(".data"):
        return "data"
    if section.startswith(".bss") or section == "COMMON":
        return "bss"
    return None
