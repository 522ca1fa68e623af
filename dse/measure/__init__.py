"""Measured, not estimated: an export cross-compiled for the profile's Cortex-M core, run in
an emulator that counts executed instructions, converted to cycles with the core's timing
table, and held against the cost model. Every figure is an emulation, not a board reading
(docs/measure.md says where the timing tables are weakest)."""
