"""Cycles from executed instructions: a per-core timing table (``timing/<core>.toml``, every
entry with its source, what the manuals do not give marked ``estimate``) applied to the
blocks the emulator counted.

A block's instructions are decoded once (capstone, Thumb, M-class); its static cost is the
sum of its instructions' cycles, with the core's pair rules applied inside it. What depends
on the path is paid per edge (previous block -> block): the refill of a branch that was
taken (its successor is not the next instruction), and the pair rules across the boundary.
This is an instruction-accurate count with a documented table, not a cycle-accurate model:
no wait states, caches, bus contention or interrupts.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from dataclasses import dataclass
from importlib import resources

import capstone
from capstone import arm as cs_arm

from dse.errors import DseError

RULES = ("load_pipelining", "address_dependency", "it_folding", "fp_result_use", "load_use")
_SINGLE_LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrt", "ldrbt", "ldrht", "ldrsbt",
                 "ldrsht", "ldrex", "ldrexb", "ldrexh", "lda", "ldab", "ldah"}
_SINGLE_STORES = {"str", "strb", "strh", "strt", "strbt", "strht", "strex", "strexb", "strexh",
                  "stl", "stlb", "stlh"}
_FP_ARITH_CLASSES = {"fp_alu", "fp_multiply_accumulate", "fp_divide"}
_CORE_REGISTERS = {getattr(cs_arm, f"ARM_REG_R{k}") for k in range(13)} | {
    cs_arm.ARM_REG_SP, cs_arm.ARM_REG_LR}


@dataclass(frozen=True)
class InstructionClass:
    name: str
    cycles: float
    per_register: float = 0.0  # LDM/STM/PUSH/POP/VLDM: plus this per register in the list
    pc_cycles: float = 0.0  # added when it writes the PC (a branch taken, a return)
    register_offset_cycles: float | None = None  # stores with a register offset
    double_cycles: float | None = None  # VLDR/VSTR of a double register
    core_transfer_cycles: float | None = None  # VMOV to or from a core register
    pairable: bool = False  # may dual issue (the M7's estimate)
    source: str = ""
    estimate: str = ""


@dataclass(frozen=True)
class TimingTable:
    core: str
    summary: str
    rules: frozenset[str]
    dual_issue: float
    by_name: dict[str, InstructionClass]  # capstone instruction name -> its class


def load_table(core: str) -> TimingTable:
    """The shipped timing table of ``core`` (``cortex-m4``, ...)."""
    path = resources.files("dse.measure").joinpath("timing", f"{core}.toml")
    if not path.is_file():
        raise DseError(f"No timing table for {core}.")
    data = tomllib.loads(path.read_text())
    by_name: dict[str, InstructionClass] = {}
    for name, entry in data["class"].items():
        fields = {k: v for k, v in entry.items() if k != "ids"}
        klass = InstructionClass(name=name, **fields)
        for instruction in entry["ids"]:
            by_name[instruction] = klass
    unknown = set(data["rules"]) - set(RULES)
    if unknown:
        raise ValueError(f"{path}: unknown rules {sorted(unknown)}")
    return TimingTable(data["core"], data["summary"], frozenset(data["rules"]),
                       float(data["dual_issue"]), by_name)


@dataclass(frozen=True)
class Instruction:
    """What the timing rules need of one decoded instruction."""

    address: int
    size: int
    name: str  # capstone's instruction name: no condition, width or flag suffix
    klass: InstructionClass | None  # None: not in the table (charged 1 cycle, reported)
    registers: int  # registers moved by LDM/STM/PUSH/POP/VLDM (a double counts two)
    writes_pc: bool
    single_load: bool
    single_store: bool
    load_target: int | None
    address_registers: frozenset[int]
    written: frozenset[int]  # core registers written
    read: frozenset[int]  # registers read (core and FP)
    fp_arith: bool
    fp_target: int | None
    register_offset: bool  # a store or load with an index register
    double: bool  # VLDR/VSTR of a double register
    core_transfer: bool  # VMOV to or from a core register

    @property
    def base_cycles(self) -> float:
        """The cycles of the instruction alone, without refill or pair rules."""
        k = self.klass
        if k is None:
            return 1.0
        if k.register_offset_cycles is not None and self.register_offset:
            return k.register_offset_cycles
        if k.double_cycles is not None and self.double:
            return k.double_cycles
        if k.core_transfer_cycles is not None and self.core_transfer:
            return k.core_transfer_cycles
        return k.cycles + k.per_register * self.registers


def decode_block(engine: capstone.Cs, code: bytes, address: int,
                 table: TimingTable) -> list[Instruction]:
    """The instructions of one executed block (decoded together, so IT conditions hold)."""
    out = []
    for insn in engine.disasm(code, address):
        name = insn.insn_name()
        klass = table.by_name.get(name)
        if name == "hint" and insn.mnemonic.startswith(("wfi", "wfe")):
            klass = table.by_name.get("hint")
        read, written = insn.regs_access()
        memory = [op for op in insn.operands if op.type == cs_arm.ARM_OP_MEM]
        address_registers = frozenset(r for op in memory for r in (op.mem.base, op.mem.index) if r)
        registers = 0
        if name in ("ldm", "ldmdb", "stm", "stmdb", "push", "pop", "vldmia", "vldmdb", "vstmia",
                    "vstmdb", "vpush", "vpop"):
            listed = [op.reg for op in insn.operands if op.type == cs_arm.ARM_OP_REG]
            if name in ("ldm", "ldmdb", "stm", "stmdb", "vldmia", "vldmdb", "vstmia", "vstmdb"):
                listed = listed[1:]  # the base register comes first
            registers = sum(2 if _is_double(r) else 1 for r in listed)
        writes_pc = cs_arm.ARM_REG_PC in written or name in ("b", "bl", "blx", "bx", "cbz",
                                                            "cbnz", "tbb", "tbh")
        single_load = name in _SINGLE_LOADS and not writes_pc
        target = insn.operands[0].reg if single_load and insn.operands else None
        fp_arith = klass is not None and klass.name in _FP_ARITH_CLASSES
        fp_target = insn.operands[0].reg if fp_arith and insn.operands else None
        instruction = Instruction(
            address=insn.address, size=insn.size, name=name, klass=klass, registers=registers,
            writes_pc=writes_pc, single_load=single_load,
            single_store=name in _SINGLE_STORES, load_target=target,
            address_registers=address_registers,
            written=frozenset(r for r in written if r in _CORE_REGISTERS),
            read=frozenset(read), fp_arith=fp_arith, fp_target=fp_target,
            register_offset=any(op.mem.index for op in memory),
            double=name in ("vldr", "vstr") and any(_is_double(op.reg) for op in insn.operands
                                                     if op.type == cs_arm.ARM_OP_REG),
            core_transfer=name == "vmov" and any(op.type == cs_arm.ARM_OP_REG and
                                                 op.reg in _CORE_REGISTERS
                                                 for op in insn.operands))
        out.append(instruction)
    if sum(i.size for i in out) != len(code):
        raise DseError(f"The block at {address:#x} does not decode as Thumb code.")
    return out


def _is_double(register: int) -> bool:
    return cs_arm.ARM_REG_D0 <= register <= cs_arm.ARM_REG_D31


def _issue(instruction: Instruction, table: TimingTable, cycles: float) -> float:
    """Cycles after dual issue: the M7's pairable classes cost ``dual_issue`` of theirs."""
    if instruction.klass is not None and instruction.klass.pairable:
        return cycles * table.dual_issue
    return cycles


def pair_adjustment(previous: Instruction, current: Instruction, table: TimingTable) -> float:
    """What the core's rules add to ``current``'s cycles because ``previous`` ran just before."""
    rules, extra = table.rules, 0.0
    memory_access = current.single_load or current.single_store or bool(current.address_registers)
    if ("load_pipelining" in rules and previous.single_load
            and (current.single_load or current.single_store)
            and previous.load_target not in current.address_registers):
        extra -= min(1.0, current.base_cycles - 1.0)  # the second's address phase overlaps
    if ("address_dependency" in rules and memory_access and not previous.single_load
            and not previous.writes_pc and previous.written & current.address_registers):
        extra += 1.0  # no forwarding path to the address generation
    if "it_folding" in rules and current.name == "it" and previous.size == 2:
        extra -= current.base_cycles  # folded onto the preceding 16-bit instruction
    if ("fp_result_use" in rules and previous.fp_arith and previous.fp_target is not None
            and previous.fp_target in current.read):
        extra += 1.0
    if ("load_use" in rules and previous.single_load and previous.load_target in current.read):
        extra += 1.0
    return extra


def block_cycles(block: list[Instruction], table: TimingTable) -> float:
    """The static cycles of a block: its instructions and the pairs inside it. The last
    instruction's refill is left to the edge, which knows whether it was taken."""
    total = 0.0
    for index, instruction in enumerate(block):
        cycles = instruction.base_cycles
        if index:
            cycles += pair_adjustment(block[index - 1], instruction, table)
        total += _issue(instruction, table, cycles)
    return total


def edge_cycles(previous: list[Instruction], current: list[Instruction],
                table: TimingTable) -> float:
    """What running ``current`` right after ``previous`` adds: the refill when the last
    instruction of ``previous`` changed the flow, and the pair rules across the boundary."""
    last, first = previous[-1], current[0]
    taken = current[0].address != last.address + last.size
    extra = last.klass.pc_cycles if (last.writes_pc and taken and last.klass) else 0.0
    return _issue(last, table, extra) + pair_adjustment(last, first, table)


@dataclass(frozen=True)
class CycleCount:
    cycles: float
    instructions: int
    mix: dict[str, int]  # executed instructions per capstone name
    unclassified: dict[str, int]  # instructions the table has no class for (charged 1 each)


def count_cycles(blocks: Counter, edges: Counter, decoded: dict[tuple[int, int], list[Instruction]],
                 table: TimingTable) -> CycleCount:
    """Cycles of the executed ``blocks`` ((address, size) -> executions) and ``edges``
    ((previous block, block) -> executions) under ``table``."""
    mix: Counter[str] = Counter()
    cycles, instructions = 0.0, 0
    for key, count in blocks.items():
        block = decoded[key]
        cycles += count * block_cycles(block, table)
        instructions += count * len(block)
        for instruction in block:
            mix[instruction.name] += count
    for (before, after), count in edges.items():
        if before is not None:
            cycles += count * edge_cycles(decoded[before], decoded[after], table)
    unclassified = {name: n for name, n in mix.items() if name not in table.by_name}
    return CycleCount(cycles, instructions, dict(mix), unclassified)
