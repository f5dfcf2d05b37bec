"""Cut the embedded CUDA kernels (the `.nv_fatbin` section) out of a CPU-only bundle's ELF libraries.

    python packaging/elf_fatbin.py LIB [LIB ...]      # rewrites each library in place, prints what it saved

TensorFlow's Linux wheel is one build for CPU and GPU: libtensorflow_cc.so.2 and libtensorflow_framework.so.2
carry their CUDA kernels (234 MB and 53 MB of fat binaries) inside a read-only LOAD segment. Only the CUDA
runtime ever reads those bytes: TensorFlow's cudart stub hands them to libcudart's __cudaRegisterFatBinary,
and only when it finds a libcudart.so.12 (the bundle ships none: the nvidia-* wheels are left out), and the
runtime reads the kernels only when a GPU kernel is launched. No CPU code path touches them.

`objcopy --remove-section` cannot drop an allocated section from a linked library, so this rewrites the
layout instead. The page-aligned middle [P1, P2) of the section is removed from the file, and the segment
that held it is split in two:

    LOAD A  offset 0 .. P1, memory size up to P2    (the tail P1..P2 is zero-filled anonymous memory)
    LOAD B  the rest of the old segment, read from the file at P1 (was P2)

Every file offset after P2 (program headers, section headers, the section header table) moves down by
P2 - P1, a multiple of the segments' alignment, so each segment keeps vaddr == offset (mod align). The second
LOAD entry takes the slot of PT_PHDR, which a shared library does not need (ld.so finds the program headers in
the first LOAD, which starts at offset 0). Virtual addresses, relocations, symbols and code are untouched;
the section keeps its address and becomes SHT_NOBITS. A library whose layout is not the expected one
(section not wholly inside a non-writable LOAD, no PT_PHDR slot, another section in the cut range, ...)
is left as it is.
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
from pathlib import Path

PT_LOAD, PT_PHDR = 1, 6
PF_W = 2
SHT_NOBITS = 8
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
SHDR = struct.Struct("<IIQQQQIIQQ")


def cut_section(path: str | os.PathLike, name: str = ".nv_fatbin") -> int:
    """Remove the bulk of section `name` from ELF64 little-endian `path`, in place. Returns the bytes saved."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(EHDR.size)
        if len(head) < EHDR.size or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return 0
        (ident, e_type, machine, version, entry, phoff, shoff, flags, ehsize, phentsize, phnum, shentsize,
         shnum, shstrndx) = EHDR.unpack(head)
        if phentsize != PHDR.size or shentsize != SHDR.size or not shoff or shstrndx >= shnum:
            return 0
        f.seek(phoff)
        phdrs = [list(PHDR.unpack(f.read(PHDR.size))) for _ in range(phnum)]
        f.seek(shoff)
        shdrs = [list(SHDR.unpack(f.read(SHDR.size))) for _ in range(shnum)]
        f.seek(shdrs[shstrndx][4])
        strtab = f.read(shdrs[shstrndx][5])

    def sname(sh):
        end = strtab.find(b"\0", sh[0])
        return strtab[sh[0]:end].decode(errors="replace")

    target = [i for i, sh in enumerate(shdrs) if sname(sh) == name and sh[1] != SHT_NOBITS]
    if len(target) != 1:
        return 0
    sec = shdrs[target[0]]
    start, end = sec[4], sec[4] + sec[5]
    loads = [p for p in phdrs if p[0] == PT_LOAD]
    align = max(p[7] for p in loads)
    if align < 0x1000 or align & (align - 1):
        return 0
    p1 = -(-start // align) * align
    p2 = end // align * align
    delta = p2 - p1
    if delta <= 0:
        return 0
    holder = [p for p in loads if p[2] <= start and end <= p[2] + p[5]]
    slot = [i for i, p in enumerate(phdrs) if p[0] == PT_PHDR]
    if len(holder) != 1 or not slot:
        return 0
    seg = holder[0]
    if seg[1] & PF_W or seg[5] != seg[6]:
        return 0
    # Nothing but the section itself may have bytes in [p1, p2): no other section, segment or header table.
    for i, sh in enumerate(shdrs):
        if i != target[0] and sh[1] != SHT_NOBITS and sh[5] and sh[4] < p2 and sh[4] + sh[5] > p1:
            return 0
    for p in phdrs:
        if p is not seg and p[0] != PT_PHDR and p[5] and p[2] < p2 and p[2] + p[5] > p1:
            return 0
    if phoff + phnum * PHDR.size > p1 or (p1 <= shoff < p2):
        return 0

    # The new program header table: PT_PHDR goes, the holding LOAD becomes A and B (LOADs stay in vaddr order).
    a = list(seg)
    a[5] = p1 - seg[2]                       # file size: up to P1
    a[6] = p2 - seg[2]                       # memory size: up to P2 (zero-filled from P1)
    b = list(seg)
    b[2] = p1                                # file offset (after the cut)
    b[3] = seg[3] + (p2 - seg[2])            # vaddr of P2
    b[4] = seg[4] + (p2 - seg[2])
    b[5] = b[6] = seg[2] + seg[5] - p2
    new_phdrs = []
    for p in phdrs:
        if p[0] == PT_PHDR:
            continue
        if p is seg:
            new_phdrs += [a, b]
            continue
        q = list(p)
        if q[2] >= p2:
            q[2] -= delta
        new_phdrs.append(q)
    assert len(new_phdrs) == phnum
    for i, sh in enumerate(shdrs):
        if i == target[0]:
            sh[1] = SHT_NOBITS
        elif sh[4] >= p2:
            sh[4] -= delta
    new_shoff = shoff - delta if shoff >= p2 else shoff

    tmp = path.with_name(path.name + ".cutting")
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        remaining = p1
        while remaining:
            chunk = src.read(min(remaining, 1 << 24))
            dst.write(chunk)
            remaining -= len(chunk)
        src.seek(p2)
        shutil.copyfileobj(src, dst, 1 << 24)
        dst.seek(0)
        dst.write(EHDR.pack(ident, e_type, machine, version, entry, phoff, new_shoff, flags, ehsize, phentsize,
                            phnum, shentsize, shnum, shstrndx))
        dst.seek(phoff)
        for p in new_phdrs:
            dst.write(PHDR.pack(*p))
        dst.seek(new_shoff)
        for sh in shdrs:
            dst.write(SHDR.pack(*sh))
    shutil.copymode(path, tmp)
    os.replace(tmp, path)
    return delta


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        before = os.path.getsize(arg)
        saved = cut_section(arg)
        print(f"{arg}: {before} -> {before - saved} bytes ({saved / 1e6:.1f} MB cut)")
