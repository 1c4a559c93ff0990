/* edgeq Cortex-M cycle model: a QEMU TCG plugin for qemu-system-arm (QEMU 7.x plugin API, version 1).
 *
 * Written for edgeq (edgeq/harness/cortexm/timing.py builds it with the host C compiler on first use). It
 * decodes every translated Thumb/Thumb-2 instruction from its opcode bytes into a timing class and charges the
 * class's cost from a table file written by timing.py from targets/timing/<core>.toml; no cycle figure lives in
 * this file. Per translated block (TB) the costs of its instructions, with the in-block pipeline effects (load
 * pipelining, load-use stalls, IT folding, dual issue, vector beat overlap), are summed once at translation;
 * one callback per executed TB adds that sum and the effects that depend on the path taken: the pipeline
 * refill of a taken branch (the next TB does not start at the branch's fall-through address) and the pairing
 * effects across the TB boundary. Flash wait states (0 unless the profile says otherwise) are charged per
 * 32-bit instruction fetch and per data load from the flash address ranges; data loads need a memory
 * callback, registered only when wait states are non-zero.
 *
 * Arguments: table=FILE out=FILE [flash=START:END]... [mark=ADDR]... [blocks=FILE] (numbers hex or decimal).
 * Each execution of a TB that starts at a mark address appends "mark I CYCLES INSTRUCTIONS" (counters before
 * that TB) to the output, written at exit with the totals. blocks=FILE lists every executed TB with its
 * executions, the cycles charged to it and its static cost (hot loops, for the llvm-mca cross-check), counted between marks 0
 * and 1 when both are given (the invoke window of the bench firmware). Single vCPU (the Cortex-M machines have one): no locking. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the QEMU 7.x plugin API (qemu-plugin.h, version 1); Debian ships no header, so it is declared here */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef uint32_t qemu_plugin_meminfo_t;
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*vcpu_udata_cb_t)(unsigned int, void *);
typedef void (*vcpu_mem_cb_t)(unsigned int, qemu_plugin_meminfo_t, uint64_t, void *);
typedef void (*udata_cb_t)(qemu_plugin_id_t, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb_t);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *, vcpu_udata_cb_t, enum qemu_plugin_cb_flags,
                                          void *);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *, vcpu_mem_cb_t, enum qemu_plugin_cb_flags,
                                      enum qemu_plugin_mem_rw, void *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb_t, void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* ---- timing table: every key below must be in the table file (timing.py checks the TOML against it) */
enum key {
    K_ALU, K_MUL, K_MLA, K_MUL_LONG, K_DSP_MUL, K_DIVIDE, K_LOAD, K_LOAD_LITERAL, K_STORE, K_LOAD_DOUBLE,
    K_STORE_DOUBLE, K_MULTIPLE_BASE, K_MULTIPLE_PER_REGISTER, K_IT, K_BARRIER, K_BRANCH, K_TABLE_BRANCH, K_FP,
    K_FP_DIVIDE, K_FP_LOAD, K_FP_STORE, K_VECTOR, K_VECTOR_LOAD, K_VECTOR_STORE, K_STORE_IMMEDIATE, K_REFILL_DIRECT,
    K_REFILL_INDIRECT, K_REFILL_CALL, K_REFILL_LOAD, K_REFILL_LOOP_END, K_REFILL_UNALIGNED_32BIT, K_LOAD_PIPELINING,
    K_LOAD_USE_STALL, K_ADDRESS_DEPENDENCY_STALL, K_IT_FOLDING, K_DUAL_ISSUE, K_VECTOR_OVERLAP, K_EXCEPTION_ENTRY,
    K_FLASH_WAIT_STATES, K_COUNT
};
static const char *const key_names[K_COUNT] = {
    "alu", "mul", "mla", "mul_long", "dsp_mul", "divide", "load", "load_literal", "store", "load_double",
    "store_double", "multiple_base", "multiple_per_register", "it", "barrier", "branch", "table_branch", "fp",
    "fp_divide", "fp_load", "fp_store", "vector", "vector_load", "vector_store", "store_immediate", "refill_direct",
    "refill_indirect", "refill_call", "refill_load", "refill_loop_end", "refill_unaligned_32bit", "load_pipelining",
    "load_use_stall", "address_dependency_stall", "it_folding", "dual_issue", "vector_overlap", "exception_entry",
    "flash_wait_states"};
static int64_t T[K_COUNT];

/* ---- decoded instruction */
enum cls {
    C_ALU, C_MUL, C_MLA, C_MUL_LONG, C_DSP_MUL, C_DIVIDE, C_LOAD, C_LOAD_LITERAL, C_STORE, C_LOAD_DOUBLE,
    C_STORE_DOUBLE, C_LOAD_MULTIPLE, C_STORE_MULTIPLE, C_IT, C_BARRIER, C_BRANCH, C_TABLE_BRANCH, C_FP,
    C_FP_DIVIDE, C_FP_LOAD, C_FP_STORE, C_FP_MULTIPLE, C_VECTOR, C_VECTOR_LOAD, C_VECTOR_STORE
};
enum bkind { B_NONE, B_DIRECT, B_INDIRECT, B_CALL, B_LOAD, B_LOOP_END };
typedef struct {
    uint8_t cls, bkind, size, nregs;
    uint8_t imm;             /* C_STORE: immediate-offset addressing (STR Rt, [Rn, #imm], pre/post-indexed too) */
    uint16_t src, dst, addr; /* registers read, written, used to form a load/store address */
    uint32_t lit_addr;       /* PC-relative literal address (C_LOAD_LITERAL) */
} insn_t;

static int is_load(int c) { return c == C_LOAD || c == C_LOAD_LITERAL; }
static int is_mem(int c) {
    return (c >= C_LOAD && c <= C_STORE_MULTIPLE) || c == C_FP_LOAD || c == C_FP_STORE || c == C_FP_MULTIPLE ||
           c == C_VECTOR_LOAD || c == C_VECTOR_STORE || c == C_TABLE_BRANCH;
}
static int is_mac(int c) { return c >= C_MUL && c <= C_DIVIDE; }
static int is_vector(int c) { return c == C_VECTOR || c == C_VECTOR_LOAD || c == C_VECTOR_STORE; }
static uint16_t bit(unsigned r) { return (uint16_t)(1u << (r & 15)); }
static int popcount16(unsigned v) { return __builtin_popcount(v & 0xFFFFu); }

static void decode16(unsigned h, uint32_t pc, insn_t *o) {
    unsigned lo = h & 7, mid = (h >> 3) & 7, hi = (h >> 6) & 7, r8 = (h >> 8) & 7;
    o->cls = C_ALU;
    if ((h >> 11) < 3) { /* LSL/LSR/ASR imm */
        o->src = bit(mid), o->dst = bit(lo);
    } else if ((h >> 11) == 3) { /* ADD/SUB reg or imm3 */
        o->src = bit(mid) | ((h & 0x400) ? 0 : bit(hi)), o->dst = bit(lo);
    } else if ((h >> 13) == 1) { /* MOV/CMP/ADD/SUB imm8 (CMP writes no register) */
        o->src = ((h >> 11) & 3) ? bit(r8) : 0, o->dst = ((h >> 11) & 3) == 1 ? 0 : bit(r8);
    } else if ((h >> 10) == 0x10) { /* data processing register */
        unsigned op = (h >> 6) & 15;
        o->src = bit(lo) | bit(mid), o->dst = (op == 8 || op == 10 || op == 11) ? 0 : bit(lo); /* TST/CMP/CMN: none */
        if (op == 13) o->cls = C_MUL;
    } else if ((h >> 10) == 0x11) { /* hi-register ADD/CMP/MOV, BX, BLX */
        unsigned op = (h >> 8) & 3, rm = (h >> 3) & 15, rdn = (h & 7) | ((h >> 4) & 8);
        o->src = bit(rm) | (op == 2 ? 0 : bit(rdn));
        if (op == 3) o->cls = C_BRANCH, o->bkind = B_INDIRECT, o->dst = (h & 0x80) ? bit(14) : 0;
        else if (op != 1 && rdn == 15) o->cls = C_BRANCH, o->bkind = B_INDIRECT;
        else if (op != 1) o->dst = bit(rdn);
    } else if ((h >> 11) == 9) { /* LDR literal */
        o->cls = C_LOAD_LITERAL, o->dst = bit(r8), o->addr = bit(15);
        o->lit_addr = ((pc + 4) & ~3u) + (h & 0xFF) * 4;
    } else if ((h >> 12) == 5) { /* load/store register offset */
        unsigned opb = (h >> 9) & 7;
        o->addr = bit(mid) | bit(hi);
        if (opb == 0 || opb == 1 || opb == 2) o->cls = C_STORE, o->src = bit(lo) | o->addr;
        else o->cls = C_LOAD, o->src = o->addr, o->dst = bit(lo);
    } else if ((h >> 13) == 3 || (h >> 12) == 8) { /* LDR/STR(B/H) immediate */
        o->addr = bit(mid);
        if (h & 0x800) o->cls = C_LOAD, o->src = o->addr, o->dst = bit(lo);
        else o->cls = C_STORE, o->src = bit(lo) | o->addr, o->imm = 1;
    } else if ((h >> 12) == 9) { /* SP-relative */
        o->addr = bit(13);
        if (h & 0x800) o->cls = C_LOAD, o->src = o->addr, o->dst = bit(r8);
        else o->cls = C_STORE, o->src = bit(r8) | o->addr, o->imm = 1;
    } else if ((h >> 12) == 10) { /* ADR, ADD SP */
        o->src = (h & 0x800) ? bit(13) : bit(15), o->dst = bit(r8);
    } else if ((h >> 12) == 11) { /* miscellaneous */
        if ((h & 0xF500) == 0xB100) o->cls = C_BRANCH, o->bkind = B_DIRECT, o->src = bit(lo); /* CBZ/CBNZ */
        else if ((h & 0xFE00) == 0xB400) { /* PUSH */
            o->cls = C_STORE_MULTIPLE, o->nregs = (uint8_t)(popcount16(h & 0xFF) + ((h >> 8) & 1));
            o->src = (uint16_t)((h & 0xFF) | ((h & 0x100) ? bit(14) : 0) | bit(13)), o->addr = bit(13);
        } else if ((h & 0xFE00) == 0xBC00) { /* POP */
            o->cls = C_LOAD_MULTIPLE, o->nregs = (uint8_t)(popcount16(h & 0xFF) + ((h >> 8) & 1));
            o->dst = (uint16_t)((h & 0xFF) | ((h & 0x100) ? bit(15) : 0)), o->addr = o->src = bit(13);
            if (h & 0x100) o->bkind = B_LOAD;
        } else if ((h & 0xFF00) == 0xBF00 && (h & 0xF)) o->cls = C_IT;
        else if ((h & 0xFF00) == 0xB000) o->src = o->dst = bit(13); /* ADD/SUB SP, SP, #imm7 */
        else if ((h & 0xFF00) == 0xBF00) {} /* NOP/YIELD/WFE/WFI/SEV hints: no registers */
        else o->src = bit(mid), o->dst = bit(lo); /* extend, reverse, CPS, hints */
    } else if ((h >> 12) == 12) { /* LDM/STM */
        o->nregs = (uint8_t)popcount16(h & 0xFF), o->addr = bit(r8);
        if (h & 0x800) o->cls = C_LOAD_MULTIPLE, o->dst = (uint16_t)(h & 0xFF), o->src = bit(r8);
        else o->cls = C_STORE_MULTIPLE, o->src = (uint16_t)((h & 0xFF) | bit(r8));
    } else if ((h >> 12) == 13) { /* B<c>, SVC, UDF */
        o->cls = C_BRANCH, o->bkind = B_DIRECT;
    } else if ((h >> 11) == 0x1C) {
        o->cls = C_BRANCH, o->bkind = B_DIRECT;
    }
}

static void decode_coproc(unsigned h1, unsigned h2, insn_t *o) {
    int fp = ((h2 >> 9) & 7) == 5 && (h1 >> 12) == 0xE; /* cp10/cp11, T1 encodings: VFP; the rest: MVE */
    unsigned rn = h1 & 15;
    if ((h1 & 0x0E00) == 0x0C00 && (h1 & 0x01E0) != 0x0040) { /* coprocessor load/store (not 64-bit moves) */
        int load = (h1 >> 4) & 1, single = ((h1 >> 8) & 1) && !((h1 >> 5) & 1);
        o->addr = bit(rn), o->src = bit(rn);
        if (fp && single) o->cls = load ? C_FP_LOAD : C_FP_STORE;
        else if (fp) o->cls = C_FP_MULTIPLE, o->nregs = (uint8_t)((h2 & 0xFF) > 32 ? 32 : (h2 & 0xFF));
        else o->cls = load ? C_VECTOR_LOAD : C_VECTOR_STORE;
        if (!fp && (h1 >> 12) == 0xF) o->cls = load ? C_VECTOR_LOAD : C_VECTOR_STORE;
        return;
    }
    if (fp && (h1 & 0xFFB0) == 0xEE80 && (h2 & 0x0E50) == 0x0A00) o->cls = C_FP_DIVIDE; /* VDIV */
    else if (fp && (h1 & 0xFFBF) == 0xEEB1 && (h2 & 0x0ED0) == 0x0AC0) o->cls = C_FP_DIVIDE; /* VSQRT */
    else o->cls = fp ? C_FP : C_VECTOR;
    if ((h1 & 0xFFF0) == 0xEE10 || (h1 & 0xFFF0) == 0xEE00) { /* VMOV core <-> S register */
        unsigned rt = (h2 >> 12) & 15;
        if (h1 & 0x10) o->dst = bit(rt); else o->src = bit(rt);
    }
}

static void decode32(unsigned h1, unsigned h2, uint32_t pc, insn_t *o) {
    unsigned rn = h1 & 15, rt = (h2 >> 12) & 15, rd = (h2 >> 8) & 15, rm = h2 & 15;
    o->cls = C_ALU;
    if ((h1 & 0xFE40) == 0xE800) { /* LDM/STM (also PUSH/POP .W) */
        unsigned list = h2 & 0xFFFF;
        o->nregs = (uint8_t)popcount16(list), o->addr = bit(rn);
        if (h1 & 0x10) {
            o->cls = C_LOAD_MULTIPLE, o->dst = (uint16_t)list, o->src = bit(rn);
            if (list & 0x8000) o->bkind = B_LOAD;
        } else o->cls = C_STORE_MULTIPLE, o->src = (uint16_t)(list | bit(rn));
    } else if ((h1 & 0xFE40) == 0xE840) { /* exclusive, dual, table branch */
        if ((h1 & 0xFFF0) == 0xE8D0 && (h2 & 0xFFE0) == 0xF000) {
            o->cls = C_TABLE_BRANCH, o->bkind = B_LOAD, o->src = o->addr = bit(rn) | bit(rm);
        } else if ((h1 & 0xFFE0) == 0xE840 || ((h1 & 0xFFE0) == 0xE8C0 && (h2 & 0x00C0) == 0x0040)) {
            o->addr = bit(rn); /* LDREX/STREX (word, byte, halfword): pipelined like LDR/STR */
            if (h1 & 0x10) o->cls = C_LOAD, o->src = o->addr, o->dst = bit(rt);
            else o->cls = C_STORE, o->src = bit(rt) | o->addr, o->dst = bit(rd);
        } else {
            o->addr = bit(rn);
            if (h1 & 0x10) o->cls = C_LOAD_DOUBLE, o->src = o->addr, o->dst = bit(rt) | bit(rd);
            else o->cls = C_STORE_DOUBLE, o->src = bit(rt) | bit(rd) | o->addr;
            if (rn == 15 && (h1 & 0x10)) o->cls = C_LOAD_DOUBLE; /* LDRD literal: same cost */
        }
    } else if ((h1 & 0xFE00) == 0xEA00) { /* data processing, shifted register */
        o->src = bit(rn) | bit(rm), o->dst = bit(rd) & 0x7FFF; /* TST/TEQ/CMN/CMP (Rd 15): none */
        if (rd == 15 && !(((h1 >> 4) & 1) && (((h1 >> 5) & 15) == 0 || ((h1 >> 5) & 15) == 4 ||
                                              ((h1 >> 5) & 15) == 8 || ((h1 >> 5) & 15) == 13)))
            o->cls = C_BRANCH, o->bkind = B_INDIRECT; /* MOV/ADD PC (not TST/TEQ/CMN/CMP) */
    } else if ((h1 & 0xEC00) == 0xEC00) { /* coprocessor, floating point, MVE */
        decode_coproc(h1, h2, o);
    } else if ((h1 & 0xF800) == 0xF000) {
        if (!(h2 & 0x8000)) { /* data processing, immediate */
            o->src = bit(rn), o->dst = bit(rd) & 0x7FFF; /* TST/TEQ/CMN/CMP #imm (Rd 15): none */
        } else if ((h2 & 0x5001) == 0x4001 && !(h1 & 0x0400)) { /* v8.1-M low-overhead loops */
            if (h2 == 0xE001) o->src = bit(rn), o->dst = bit(14); /* DLS/DLSTP */
            else if (h1 & 0x0040) o->cls = C_BRANCH, o->bkind = B_DIRECT, o->src = bit(rn); /* WLS */
            else o->cls = C_BRANCH, o->bkind = B_LOOP_END, o->src = bit(14); /* LE/LETP */
        } else if ((h2 & 0x5000) == 0x4000 || (h2 & 0x5000) == 0x5000) { /* BL */
            o->cls = C_BRANCH, o->bkind = B_CALL, o->dst = bit(14);
        } else if ((h2 & 0x5000) == 0x1000) { /* B.W */
            o->cls = C_BRANCH, o->bkind = B_DIRECT;
        } else if (((h1 >> 7) & 7) != 7) { /* B<c>.W */
            o->cls = C_BRANCH, o->bkind = B_DIRECT;
        } else if ((h1 & 0xFFF0) == 0xF3B0 && ((h2 >> 4) & 0xF) >= 4 && ((h2 >> 4) & 0xF) <= 6) {
            o->cls = C_BARRIER; /* DSB/DMB/ISB */
        } else { /* MSR/MRS, hints (only MRS writes Rd) */
            o->src = bit(rn), o->dst = (h1 & 0xFFE0) == 0xF3E0 ? bit(rd) : 0;
        }
    } else if ((h1 & 0xFE00) == 0xF800) { /* load/store single */
        int load = (h1 >> 4) & 1, regoff = !(h1 & 0x80) && (h2 & 0x0FC0) == 0;
        o->addr = (uint16_t)(bit(rn) | (regoff ? bit(rm) : 0));
        if (!load) {
            o->cls = C_STORE, o->src = bit(rt) | o->addr, o->imm = (uint8_t)!regoff;
        } else if (rn == 15) {
            unsigned imm = h2 & 0xFFF;
            o->cls = C_LOAD_LITERAL, o->dst = bit(rt);
            o->lit_addr = ((pc + 4) & ~3u) + ((h1 & 0x80) ? imm : (uint32_t)-(int32_t)imm);
        } else if (rt == 15 && ((h1 >> 5) & 3) != 2) {
            o->src = o->addr; /* PLD/PLI hints: charged as ALU */
        } else {
            o->cls = C_LOAD, o->src = o->addr, o->dst = bit(rt);
        }
        if (load && rt == 15 && ((h1 >> 5) & 3) == 2) o->bkind = B_LOAD, o->cls = C_LOAD;
    } else if ((h1 & 0xFF00) == 0xFA00) { /* data processing register: shifts, extend, SIMD, CLZ, ... */
        o->src = bit(rn) | bit(rm), o->dst = bit(rd);
    } else if ((h1 & 0xFF80) == 0xFB00) { /* 32-bit multiply and DSP multiply-accumulate */
        unsigned op1 = (h1 >> 4) & 7, op2 = (h2 >> 4) & 3;
        o->src = (uint16_t)(bit(rn) | bit(rm) | (rt != 15 ? bit(rt) : 0)), o->dst = bit(rd);
        if (op1 == 0) o->cls = (rt == 15 && op2 == 0) ? C_MUL : C_MLA;
        else o->cls = C_DSP_MUL;
    } else if ((h1 & 0xFF80) == 0xFB80) { /* long multiply, divide */
        unsigned op1 = (h1 >> 4) & 7;
        if (op1 == 1 || op1 == 3) o->cls = C_DIVIDE, o->src = bit(rn) | bit(rm), o->dst = bit(rd);
        else {
            o->cls = C_MUL_LONG, o->src = bit(rn) | bit(rm), o->dst = bit(rt) | bit(rd);
            if (op1 >= 4) o->src |= o->dst; /* accumulating forms read RdLo:RdHi */
        }
    }
}

/* The width comes from the first halfword (ARMv7-M A5.1), not from qemu_plugin_insn_size(): QEMU 7.2 appends
 * the halfword it peeks at to check whether the next instruction crosses a page to the current instruction's
 * bytes, so a 16-bit instruction can report 4 bytes and a 32-bit one 6. Returns the width in bytes. */
static size_t decode(const uint8_t *b, size_t avail, uint32_t pc, insn_t *o) {
    memset(o, 0, sizeof *o);
    unsigned h1 = (unsigned)b[0] | ((unsigned)b[1] << 8);
    int wide = (h1 >> 11) >= 0x1D && avail >= 4;
    o->size = wide ? 4 : 2;
    if (wide) decode32(h1, (unsigned)b[2] | ((unsigned)b[3] << 8), pc, o);
    else decode16(h1, pc, o);
    return o->size;
}

/* ---- costs */
#define MAX_FLASH 4
static uint64_t flash_lo[MAX_FLASH], flash_hi[MAX_FLASH];
static int nflash;
static int in_flash(uint64_t a) {
    for (int i = 0; i < nflash; i++)
        if (a >= flash_lo[i] && a < flash_hi[i]) return 1;
    return 0;
}

static int64_t base_cost(const insn_t *in) {
    switch (in->cls) {
    case C_MUL: return T[K_MUL];
    case C_MLA: return T[K_MLA];
    case C_MUL_LONG: return T[K_MUL_LONG];
    case C_DSP_MUL: return T[K_DSP_MUL];
    case C_DIVIDE: return T[K_DIVIDE];
    case C_LOAD: return T[K_LOAD];
    case C_LOAD_LITERAL: return T[K_LOAD_LITERAL] + (in_flash(in->lit_addr) ? T[K_FLASH_WAIT_STATES] : 0);
    case C_STORE: return in->imm ? T[K_STORE_IMMEDIATE] : T[K_STORE];
    case C_LOAD_DOUBLE: return T[K_LOAD_DOUBLE];
    case C_STORE_DOUBLE: return T[K_STORE_DOUBLE];
    case C_LOAD_MULTIPLE:
    case C_STORE_MULTIPLE:
    case C_FP_MULTIPLE: return T[K_MULTIPLE_BASE] + T[K_MULTIPLE_PER_REGISTER] * in->nregs;
    case C_IT: return T[K_IT];
    case C_BARRIER: return T[K_BARRIER];
    case C_BRANCH: return T[K_BRANCH];
    case C_TABLE_BRANCH: return T[K_TABLE_BRANCH];
    case C_FP: return T[K_FP];
    case C_FP_DIVIDE: return T[K_FP_DIVIDE];
    case C_FP_LOAD: return T[K_FP_LOAD];
    case C_FP_STORE: return T[K_FP_STORE];
    case C_VECTOR: return T[K_VECTOR];
    case C_VECTOR_LOAD: return T[K_VECTOR_LOAD];
    case C_VECTOR_STORE: return T[K_VECTOR_STORE];
    default: return T[K_ALU];
    }
}

/* What `cur` costs after `prev` (NULL at the start of an unknown path): pipeline effects between neighbours.
 * *paired says whether `prev` already shares its cycle with the instruction before it (dual issue). */
static int64_t pair_adjust(const insn_t *prev, int prev_paired, const insn_t *cur, int *paired) {
    int64_t d = 0;
    *paired = 0;
    if (!prev) return 0;
    int pc = prev->cls, cc = cur->cls;
    /* TRM "Load/store timings": an LDR followed by an LDR/STR whose address does not use the loaded register
     * shares a cycle with it; nothing is pipelined after a store, LDM/STM or LDRD/STRD. */
    if (T[K_LOAD_PIPELINING] && is_load(pc) && prev->bkind == B_NONE && (is_load(cc) || cc == C_STORE) &&
        !(cur->addr & prev->dst)) {
        int64_t room = base_cost(cur) - 1; /* an STR that already takes one cycle gains nothing */
        d -= T[K_LOAD_PIPELINING] < room ? T[K_LOAD_PIPELINING] : room;
    }
    /* TRM "Load/store timings": "Any load or store that generates an address dependent on the result of a
     * preceding data processing operation stalls the pipeline for an additional cycle while the register bank
     * is updated. There is no forwarding path for this scenario." */
    if (T[K_ADDRESS_DEPENDENCY_STALL] && is_mem(cc) && (pc == C_ALU || is_mac(pc)) && prev->bkind == B_NONE &&
        (cur->addr & prev->dst))
        d += T[K_ADDRESS_DEPENDENCY_STALL];
    /* Load-use: the next instruction reads a register the load writes (cores with a later load result). */
    if (T[K_LOAD_USE_STALL] && (is_load(pc) || pc == C_LOAD_DOUBLE || pc == C_LOAD_MULTIPLE) &&
        ((cur->src | cur->addr) & prev->dst))
        d += T[K_LOAD_USE_STALL];
    if (T[K_IT_FOLDING] && cc == C_IT && prev->size == 2 && prev->bkind == B_NONE) d -= base_cost(cur);
    /* Dual issue (approximation): two neighbours share a cycle unless both use the same single unit (memory,
     * multiplier), the second reads what the first writes, or either is a branch/IT/multi-cycle op. */
    if (T[K_DUAL_ISSUE] && !prev_paired && prev->bkind == B_NONE && cc != C_IT && pc != C_IT &&
        !(is_mem(pc) && is_mem(cc)) && !(is_mac(pc) && is_mac(cc)) && !(cur->src & prev->dst) &&
        !(cur->addr & prev->dst) && cc != C_LOAD_MULTIPLE && cc != C_STORE_MULTIPLE && pc != C_LOAD_MULTIPLE &&
        pc != C_STORE_MULTIPLE && cc != C_DIVIDE && pc != C_DIVIDE && cc != C_TABLE_BRANCH) {
        d -= 1;
        *paired = 1;
    }
    /* Vector beat overlap (M55, approximation): a vector load/store overlaps a vector computation. */
    if (T[K_VECTOR_OVERLAP] && is_vector(pc) && is_vector(cc) &&
        ((pc == C_VECTOR) != (cc == C_VECTOR)))
        d -= T[K_VECTOR_OVERLAP];
    return d;
}

typedef struct tbinfo {
    uint64_t start, fallthrough;
    int64_t cycles;       /* static cost of the block, in-block effects included */
    uint32_t n;
    insn_t first, last;
    int first_paired_cost, last_paired; /* dual-issue state at the block's edges */
    int mark;             /* index of the mark address the block starts at, or -1 */
    int first_32bit;
    uint64_t execs;       /* with blocks=FILE: executions and cycles charged to this block (refills included) */
    int64_t charged;
    struct tbinfo *next;
} tbinfo_t;

static int64_t cycles;
static uint64_t insns, nonbranch_jumps;
static const tbinfo_t *prev_tb;
static uint64_t marks[16];
static int nmarks;
typedef struct { int mark; uint64_t cycles, insns; } snap_t;
static snap_t *snaps;
static size_t nsnaps, capsnaps;
static char out_path[4096], blocks_path[4096];
static tbinfo_t *all_tbs;
static int window_open = 1; /* block statistics: only between marks 0 and 1 when both are given */

static int64_t refill(const tbinfo_t *p, const tbinfo_t *t) {
    int64_t r = 0;
    switch (p->last.bkind) {
    case B_DIRECT: r = T[K_REFILL_DIRECT]; break;
    case B_INDIRECT: r = T[K_REFILL_INDIRECT]; break;
    case B_CALL: r = T[K_REFILL_CALL]; break;
    case B_LOAD: r = T[K_REFILL_LOAD]; break;
    case B_LOOP_END: r = T[K_REFILL_LOOP_END]; break;
    default: return T[K_EXCEPTION_ENTRY]; /* left a block without a branch: an exception was taken */
    }
    if (t->first_32bit && (t->start & 2)) r += T[K_REFILL_UNALIGNED_32BIT];
    return r;
}

static void tb_exec(unsigned int vcpu, void *udata) {
    (void)vcpu;
    tbinfo_t *t = udata;
    if (t->mark >= 0) {
        if (nsnaps == capsnaps) {
            capsnaps = capsnaps ? 2 * capsnaps : 1024;
            snaps = realloc(snaps, capsnaps * sizeof *snaps);
            if (!snaps) abort();
        }
        snaps[nsnaps++] = (snap_t){t->mark, (uint64_t)cycles, insns};
        if (nmarks >= 2 && t->mark <= 1) window_open = t->mark == 0;
    }
    int64_t c = t->cycles;
    const tbinfo_t *p = prev_tb;
    if (p) {
        if (t->start != p->fallthrough) {
            c += refill(p, t);
            if (p->last.bkind == B_NONE) nonbranch_jumps++;
        } else {
            int paired;
            c += pair_adjust(&p->last, p->last_paired, &t->first, &paired);
            /* the block's static cost assumed its first instruction unpaired; a pair here changes the second */
            if (paired) c += t->first_paired_cost;
        }
    }
    prev_tb = t;
    cycles += c;
    if (window_open) {
        t->execs++;
        t->charged += c;
    }
    insns += t->n;
}

static void load_from_flash(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata) {
    (void)vcpu; (void)info; (void)udata;
    if (in_flash(vaddr)) cycles += T[K_FLASH_WAIT_STATES];
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (n == 0) return;
    tbinfo_t *t = calloc(1, sizeof *t);
    if (!t) abort();
    t->start = qemu_plugin_tb_vaddr(tb);
    t->n = (uint32_t)n;
    t->mark = -1;
    for (int i = 0; i < nmarks; i++)
        if (marks[i] == t->start) t->mark = i;
    insn_t prev, cur;
    int prev_paired = 0, paired;
    int64_t sum = 0;
    uint64_t end = t->start;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *qi = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(qi);
        size_t size = decode(qemu_plugin_insn_data(qi), qemu_plugin_insn_size(qi), (uint32_t)pc, &cur);
        sum += base_cost(&cur);
        if (i > 0) {
            sum += pair_adjust(&prev, prev_paired, &cur, &paired);
            if (i == 1) {
                /* if the block's first instruction pairs with the previous block's last, this one cannot */
                int dummy;
                int64_t alone = pair_adjust(&prev, 1, &cur, &dummy);
                t->first_paired_cost = (int)(alone - pair_adjust(&prev, 0, &cur, &dummy));
            }
        } else {
            paired = 0;
            t->first = cur;
            t->first_32bit = size >= 4;
        }
        if (T[K_FLASH_WAIT_STATES] && (cur.cls == C_LOAD || cur.cls == C_LOAD_DOUBLE ||
                                       cur.cls == C_LOAD_MULTIPLE || cur.cls == C_FP_LOAD ||
                                       cur.cls == C_FP_MULTIPLE || cur.cls == C_VECTOR_LOAD ||
                                       cur.cls == C_TABLE_BRANCH))
            qemu_plugin_register_vcpu_mem_cb(qi, load_from_flash, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_R, NULL);
        prev = cur;
        prev_paired = paired;
        end = pc + size;
    }
    /* Instruction fetch from flash: one access per 32-bit word of the block. */
    if (T[K_FLASH_WAIT_STATES] && in_flash(t->start))
        sum += T[K_FLASH_WAIT_STATES] * (int64_t)(((end + 3) >> 2) - (t->start >> 2));
    t->cycles = sum;
    t->last = prev;
    t->last_paired = prev_paired;
    t->fallthrough = end;
    t->next = all_tbs;
    all_tbs = t;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, t);
}

static void at_exit(qemu_plugin_id_t id, void *p) {
    (void)id; (void)p;
    FILE *f = fopen(out_path, "w");
    if (!f) return;
    fprintf(f, "cycles %lld\ninstructions %llu\nexception_jumps %llu\n", (long long)cycles,
            (unsigned long long)insns, (unsigned long long)nonbranch_jumps);
    for (size_t i = 0; i < nsnaps; i++)
        fprintf(f, "mark %d %llu %llu\n", snaps[i].mark, (unsigned long long)snaps[i].cycles,
                (unsigned long long)snaps[i].insns);
    fclose(f);
    if (!blocks_path[0] || !(f = fopen(blocks_path, "w"))) return;
    for (const tbinfo_t *t = all_tbs; t; t = t->next)
        if (t->execs)
            fprintf(f, "tb 0x%llx 0x%llx %u %llu %lld %lld\n", (unsigned long long)t->start,
                    (unsigned long long)t->fallthrough, t->n, (unsigned long long)t->execs, (long long)t->charged,
                    (long long)t->cycles);
    fclose(f);
}

static int load_table(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char name[64];
    long long v;
    int seen[K_COUNT] = {0};
    while (fscanf(f, "%63s %lld", name, &v) == 2)
        for (int k = 0; k < K_COUNT; k++)
            if (strcmp(name, key_names[k]) == 0) T[k] = v, seen[k] = 1;
    fclose(f);
    for (int k = 0; k < K_COUNT; k++)
        if (!seen[k]) {
            fprintf(stderr, "edgeq timing plugin: %s: missing key %s\n", path, key_names[k]);
            return -1;
        }
    return 0;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    const char *table = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        else if (strncmp(argv[i], "table=", 6) == 0) table = argv[i] + 6;
        else if (strncmp(argv[i], "blocks=", 7) == 0) snprintf(blocks_path, sizeof blocks_path, "%s", argv[i] + 7);
        else if (strncmp(argv[i], "mark=", 5) == 0 && nmarks < 16) marks[nmarks++] = strtoull(argv[i] + 5, NULL, 0);
        else if (strncmp(argv[i], "flash=", 6) == 0 && nflash < MAX_FLASH) {
            char *colon;
            flash_lo[nflash] = strtoull(argv[i] + 6, &colon, 0);
            flash_hi[nflash] = *colon == ':' ? strtoull(colon + 1, NULL, 0) : 0;
            nflash++;
        } else {
            fprintf(stderr, "edgeq timing plugin: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    if (nmarks >= 2) window_open = 0;
    if (!out_path[0] || !table || load_table(table) != 0) {
        fprintf(stderr, "edgeq timing plugin: needs out=FILE and table=FILE (with every key)\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
