"""Just enough of ELF32 (little-endian, as arm-none-eabi-gcc links it): the loadable segments
and the symbol table."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from dse.errors import DseError


@dataclass(frozen=True)
class Segment:
    address: int  # where it is loaded: the flash copy of .data sits at its load address
    data: bytes
    memory_size: int


@dataclass(frozen=True)
class Elf:
    entry: int
    segments: tuple[Segment, ...]
    symbols: dict[str, tuple[int, int]]  # name -> (address, size); Thumb bit cleared

    def address(self, name: str) -> int:
        if name not in self.symbols:
            raise DseError(f"The image has no symbol {name!r}: not a dse measuring image.")
        return self.symbols[name][0]


def read_elf(path: Path) -> Elf:
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise DseError(f"{path} is not a 32-bit little-endian ELF file.")
    (entry, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
     _) = struct.unpack_from("<IIIIHHHHHH", data, 24)
    segments = []
    for k in range(phnum):
        kind, offset, _, paddr, filesz, memsz, _, _ = struct.unpack_from(
            "<8I", data, phoff + k * phentsize)
        if kind == 1:  # PT_LOAD
            segments.append(Segment(paddr, data[offset: offset + filesz], memsz))
    headers = [struct.unpack_from("<10I", data, shoff + k * shentsize) for k in range(shnum)]
    symbols: dict[str, tuple[int, int]] = {}
    for header in headers:
        if header[1] != 2:  # SHT_SYMTAB
            continue
        strings = headers[header[6]]
        for offset in range(header[4], header[4] + header[5], 16):
            name_at, value, size, info, _, _ = struct.unpack_from("<IIIBBH", data, offset)
            start = strings[4] + name_at
            name = data[start: data.index(b"\0", start)].decode()
            if name and not name.startswith("$") and (info & 15) in (0, 1, 2):
                symbols[name] = (value & ~1 if info & 15 == 2 else value, size)  # no Thumb bit
    return Elf(entry, tuple(segments), symbols)
