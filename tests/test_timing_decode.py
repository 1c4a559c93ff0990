"""The cycle model's decoder (edgeq/harness/cortexm/timing_plugin.c): instructions that write no register must not
set the address-dependency stall (TRM 3.3.2: a load or store whose address the previous data-processing instruction
computed waits a cycle). Compares and tests (16-bit CMP #imm8, TST/CMP register; 32-bit CMP with the Rd field 15,
which used to read as writing the PC and so stalled the PC-relative load after it) and NOP hints (16-bit NOP read as
writing r0) are followed here by a load from the register they name: none of those loads may be charged a stall.
One QEMU run of a hand-written loop (~2 s)."""

from __future__ import annotations

import pytest
from test_cortexm_timing import _build_loop, _window, needs_tools

from edgeq.harness.cortexm import timing

NO_DST_BODY = """
    cmp r5, #0               @ alu (CMP imm8 writes no register)
    ldr r0, [r5]             @ load, no stall
    tst r5, r6               @ alu (TST register)
    ldr r1, [r5, #4]         @ load, no stall
    cmp r5, r6               @ alu (CMP register)
    ldr r2, [r5, #8]         @ load, no stall
    cmp.w r5, #256           @ alu (32-bit CMP #imm: Rd field 15)
    ldr r1, =0x12345678      @ load_literal, no stall (PC is not written)
    cmp.w r5, r6, lsl #1     @ alu (32-bit CMP shifted register: Rd field 15)
    ldr r2, =0x12345678      @ load_literal, no stall
    mov r0, r5               @ alu
    nop                      @ alu (a hint: writes no register, so the LDR below is not right after a write of r0)
    ldr r1, [r0, #12]        @ load, no stall
    adds r0, r5, #4          @ alu
    ldr r1, [r0]             @ load + address_dependency_stall (the positive control)
    subs r4, #1              @ alu
"""


def _cost(c: dict[str, int]) -> int:
    return (9 * c["alu"] + 5 * c["load"] + 2 * c["load_literal"] + c["address_dependency_stall"] + c["branch"]
            + c["refill_direct"])


@needs_tools
@pytest.mark.qemu
def test_compares_and_hints_do_not_stall_the_next_address(tmp_path):
    e1, b1, x1 = _build_loop(tmp_path, 100, body=NO_DST_BODY)
    e2, b2, x2 = _build_loop(tmp_path, 200, body=NO_DST_BODY)
    table = timing.load_timing_table("cortex-m4")
    assert table.cycles["address_dependency_stall"] > 0  # (else this test could not tell)
    per_iter = (_window(e2, b2, x2, table)[0] - _window(e1, b1, x1, table)[0]) / 100
    assert per_iter == _cost(table.cycles), (per_iter, _cost(table.cycles))
