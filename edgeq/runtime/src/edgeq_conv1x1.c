/* edgeq runtime: CONV_2D's 1x1 layers on DSP cores (Cortex-M4/M7/M33): pixels sign-extended to int16 three at a
 * time and run against the generator's int16 weights (w16): ReLU-like layers by the whole-channel-loop asm block
 * below, others by the 3 x 2 block of edgeq_conv.c. See edgeq_conv.h. */
#include "edgeq_conv.h"

#include "edgeq_dsp.h"

#if defined(EDGEQ_DSP) && defined(EDGEQ_CONV_W16)
typedef edgeq_conv2d_params eq_cv;

/* 1x1 convolutions (no padding) with the short requantization, in_c a multiple of 4 from EQ_W16_THREE_1X1_MIN:
 * three pixels in flattened order (with stride 1 one contiguous run of 3 * in_c bytes, across rows and batches)
 * sign-extended straight into the 3 pixels x 2 channels layout, then eq_w16_channels3; the last one or two pixels
 * take the 2 x 2 block. With the block's requantization in asm the 3 x 2 block wins down to in_c 8 here (VWW's 8->16
 * and 16->32 1x1 ran 31 and 39 cycles an output in the 2 x 2 block); the windows path paid a per-pixel gather. */
#ifndef EQ_W16_THREE_1X1_MIN
#define EQ_W16_THREE_1X1_MIN 8
#endif
static inline __attribute__((always_inline)) void eq_x16_fill3(int32_t *xw, const int8_t *a, const int8_t *b,
                                                                const int8_t *c, int32_t n)
{
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS)
    /* EQ_X16_FILL3_WORD a 4-byte step; n >= 4 here */
    const int8_t *const e = c + n;
    __asm__ volatile("1:\n\t" EQ_X16_FILL3_WORD
                     "cmp %[c], %[e]\n\t"
                     "bne 1b"
                     : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [x] "+r"(xw)
                     : [e] "r"(e)
                     : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
#else
    eq_x16_fill3_c(xw, a, b, c, n);
#endif
}

/* 1x1 layers with ReLU-like output (short requantization, output zero point -128 = act_min, act_max 127, even out_c,
 * in_c 8.., at least 3 pixels; also the windows of edgeq_conv.c's 3-pixel block: ops_core._conv1x1_stream decides, and
 * marks them with bias_eff NULL in the w16 params, rq pointing at the stream too — edgeq_lowbit.c's channel chunks keep
 * bias_eff and the plain w16): three pixels x 2 channels with the whole channel loop in ONE asm run — bias, MACs,
 * requantization, stores and the pair loop, the sums in registers throughout (each sum is its own requantization
 * temporary). w16 is then the generator's stream: per channel pair {2 bias_eff[0], 2 bias_eff[1]}, the pair's int16
 * weights doubled (the w16 layout), {m, c, e} of both channels — the sums come out doubled, as SMMLAR takes them (|2
 * acc| < 2^31 where rq exists), no LSL and one pointer; the e words carry the pair loop's state in the bits above
 * 0-7 (all ASR reads): channel 1's bits 8-30 the pair's output offset (2 x its index), the last pair's channel 0 bit
 * 31. The run's other state beyond its 14 registers lives in words after the pixels (ctx, where the MAC loop's
 * pointer ends): the block's output, out_c, the MAC loop's entry, the pixels' start, and the next block's (ctx[4],
 * 0 for none: every caller reserves these EQ_C1_CTX 5; a stride-1 1x1 layer's run in the asm also ctx[5..8], see
 * EQ_C1_NEXT_BLOCK). The rounding's sign correction
 * is dropped: with multiplier >= 0 a negative sum gives a high product h <= 0, so both roundings land at or below the
 * zero point (-128 here) and saturate to -128 alike. */

#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS)
/* one doubled sum requantized in place (m, c, e in xa, xb, xc) and saturated */
#define EQ_C1_RQ(acc)                                                                                        \
    "smmlar %[" #acc "], %[" #acc "], %[xa], %[xb]\n\t"                                                      \
    "asr %[" #acc "], %[" #acc "], %[xc]\n\t"                                                                \
    "ssat %[" #acc "], #8, %[" #acc "]\n\t"
/* a channel pair's bias words (the sums' start) */
#define EQ_C1_BIAS                                                                                           \
    "ldr %[a0], [%[wp]], #8\n\t"                                                                             \
    "ldr %[a1], [%[wp], #-4]\n\t"
/* the first group of taps (the three pixels' words at x0 .. x5: pixel A's two, B's, C's; the next 4 weights): the
 * sums start from the bias in a0, a1 (no copies) */
#define EQ_C1_FIRST(x0, x1, x2, x3, x4, x5)                                                                  \
    EQ_W16_LOAD5(x0, x2, x4, "[%[wp]], #16", "[%[wp], #-8]")                                                 \
    "smlad %[b0], %[w0], %[xb], %[a0]\n\t"                                                                   \
    "smlad %[c0], %[w0], %[xc], %[a0]\n\t"                                                                   \
    "smlad %[a0], %[w0], %[xa], %[a0]\n\t"                                                                   \
    "smlad %[b1], %[w1], %[xb], %[a1]\n\t"                                                                   \
    "smlad %[c1], %[w1], %[xc], %[a1]\n\t"                                                                   \
    "smlad %[a1], %[w1], %[xa], %[a1]\n\t"                                                                   \
    EQ_W16_PAIR3_STEP(x1, x3, x5, "[%[wp], #-12]", "[%[wp], #-4]")
/* a further group: the same loads, each sum accumulating */
#define EQ_C1_NEXT(x0, x1, x2, x3, x4, x5)                                                                   \
    EQ_W16_PAIR3_STEP(x0, x2, x4, "[%[wp]], #16", "[%[wp], #-8]")                                            \
    EQ_W16_PAIR3_STEP(x1, x3, x5, "[%[wp], #-12]", "[%[wp], #-4]")
/* requantization and stores of the pair (rq words next in the stream), xp back to the pixels' start by `rewind`
 * (a load from ctx[3], or nothing where xp never moved); the pair loop's branch back to label 3. The outputs at
 * `o`: w0 loaded from ctx[0] and stepped by the pair's offset (`out_load`, `out_add`), or xp where it holds the pair's
 * outputs (the n4 == 2 variant: its pixels at fixed offsets from end; a store post-indexed by 2: one LDR and one ADD
 * less a pair); `o_last` the last store's address */
#define EQ_C1_TAIL(rewind, out_load, out_add, o, o_last)                                                     \
    "ldr %[xa], [%[wp]], #24\n\t"                                                                            \
    "ldr %[xb], [%[wp], #-20]\n\t"                                                                           \
    "ldr %[xc], [%[wp], #-16]\n\t"                                                                           \
    out_load                                                                                                 \
    "ldr %[w1], [%[end], #4]\n\t" EQ_C1_RQ(a0) EQ_C1_RQ(b0) EQ_C1_RQ(c0)                                     \
    /* N: the last pair (bit 31 of its channel 0's e word; ASR reads bits 0-7), kept to the end */           \
    "cmp %[xc], #0\n\t"                                                                                      \
    "ldr %[xa], [%[wp], #-12]\n\t"                                                                           \
    "ldr %[xb], [%[wp], #-8]\n\t"                                                                            \
    "ldr %[xc], [%[wp], #-4]\n\t" rewind EQ_C1_RQ(a1) EQ_C1_RQ(b1) EQ_C1_RQ(c1)                              \
    /* the pair's outputs: the block's + 2 x the pair's index (bits 8-30 of channel 1's e word) */            \
    out_add                                                                                                  \
    /* each pixel's channel pair by one STRH (channel 0's byte low) */                                        \
    "bfi %[a0], %[a1], #8, #8\n\t"                                                                           \
    "bfi %[b0], %[b1], #8, #8\n\t"                                                                           \
    "bfi %[c0], %[c1], #8, #8\n\t"                                                                           \
    "strh %[b0], [%[" o "], %[w1]]\n\t"                                                                       \
    "strh %[c0], [%[" o "], %[w1], lsl #1]\n\t"                                                               \
    "strh %[a0], " o_last "\n\t"                                                                             \
    "bpl 3b\n\t"
/* EQ_X16_FILL3_WORD with pixel pointers xb, a1, b1 (the words to xa, xc, w0) and six STR at 1 cycle (an STM's 7) */
#define EQ_C1_FILL_STEP                                                                                      \
    "ldr %[xa], [%[xb]], #4\n\t"                                                                              \
    "ldr %[xc], [%[a1]], #4\n\t"                                                                              \
    "ldr %[w0], [%[b1]], #4\n\t"                                                                              \
    "sxtb16 %[w1], %[xa], ror #8\n\t"                                                                         \
    "sxtb16 %[xa], %[xa]\n\t"                                                                                 \
    "sxtb16 %[a0], %[xc], ror #8\n\t"                                                                         \
    "sxtb16 %[xc], %[xc]\n\t"                                                                                 \
    "sxtb16 %[b0], %[w0], ror #8\n\t"                                                                         \
    "sxtb16 %[w0], %[w0]\n\t"                                                                                 \
    "str %[xa], [%[wp]], #24\n\t"                                                                             \
    "str %[w1], [%[wp], #-20]\n\t"                                                                            \
    "str %[xc], [%[wp], #-16]\n\t"                                                                            \
    "str %[a0], [%[wp], #-12]\n\t"                                                                            \
    "str %[w0], [%[wp], #-8]\n\t"                                                                             \
    "str %[b0], [%[wp], #-4]\n\t"
/* after the pair loop, the stream's next block (ctx[4] the bytes from the block's first pixel to the last block's,
 * 0: none, one block; ctx[5] that pixel, ctx[6] in_c, ctx[7] the last block's outputs, ctx[8] w16): pixel and outputs
 * stepped by three (past the last block: the last block, its bytes rewritten), its pixels expanded to xp (two
 * EQ_C1_FILL_STEP a loop pass), wp back to the first pair, back to label 3; else out at 9.
 * One asm run a layer instead of a C loop reloading its spilled state around each block (~15 cycles a block). */
#define EQ_C1_NEXT_BLOCK                                                                                     \
    "ldr %[xa], [%[end], #16]\n\t"                                                                            \
    "cmp %[xa], #0\n\t"                                                                                       \
    "beq 9f\n\t" /* (first: the single blocks' exit in 5 cycles) */                                          \
    "ldr %[xb], [%[end], #20]\n\t"                                                                            \
    "ldr %[xc], [%[end], #24]\n\t"                                                                            \
    "ldr %[w0], [%[end]]\n\t"                                                                                 \
    "ldr %[w1], [%[end], #4]\n\t"                                                                             \
    "add %[w1], %[w1], %[w1], lsl #1\n\t"                                                                     \
    "add %[a0], %[xc], %[xc], lsl #1\n\t"                                                                     \
    "add %[xb], %[xb], %[a0]\n\t"                                                                             \
    "add %[w0], %[w0], %[w1]\n\t"                                                                             \
    "subs %[xa], %[xa], %[a0]\n\t"                                                                            \
    "ittt mi\n\t"                                                                                             \
    "addmi %[xb], %[xb], %[xa]\n\t"                                                                           \
    "ldrmi %[w0], [%[end], #28]\n\t"                                                                          \
    "movmi %[xa], #0\n\t"                                                                                     \
    "str %[xa], [%[end], #16]\n\t"                                                                            \
    "str %[xb], [%[end], #20]\n\t"                                                                            \
    "str %[w0], [%[end]]\n\t"                                                                                 \
    "add %[a1], %[xb], %[xc]\n\t"                                                                             \
    "add %[b1], %[a1], %[xc]\n\t"                                                                             \
    "add %[c1], %[b1], %[xc]\n\t"                                                                             \
    "mov %[wp], %[xp]\n\t"                                                                                    \
    "tst %[xc], #4\n\t" /* (an odd n4: one word first) */                                                    \
    "beq 4f\n\t" EQ_C1_FILL_STEP                                                                                \
    ".balign 4\n\t"                                                                                           \
    "4:\n\t" EQ_C1_FILL_STEP EQ_C1_FILL_STEP                                                                   \
    "cmp %[b1], %[c1]\n\t"                                                                                    \
    "bne 4b\n\t"                                                                                              \
    "ldr %[wp], [%[end], #32]\n\t"                                                                            \
    "b 3b\n\t"                                                                                                \
    "9:"
/* EQ_C1_NEXT_BLOCK of the n4 == 2 variant (in_c 8: 24 bytes a block): the next outputs from xp (the pair loop
 * left it out_c on: + 2 out_c), the six pixel words in one LDR chain, expanded and stored at fixed offsets from end */
#define EQ_C1_NEXT_BLOCK2                                                                                    \
    "ldr %[xa], [%[end], #16]\n\t"                                                                            \
    "cmp %[xa], #0\n\t"                                                                                       \
    "beq 9f\n\t"                                                                                              \
    "ldr %[xb], [%[end], #20]\n\t"                                                                            \
    "ldr %[w1], [%[end], #4]\n\t"                                                                             \
    "add %[xb], %[xb], #24\n\t"                                                                               \
    "add %[xp], %[xp], %[w1], lsl #1\n\t"                                                                     \
    "subs %[xa], %[xa], #24\n\t"                                                                              \
    "ittt mi\n\t"                                                                                             \
    "addmi %[xb], %[xb], %[xa]\n\t"                                                                           \
    "ldrmi %[xp], [%[end], #28]\n\t"                                                                          \
    "movmi %[xa], #0\n\t"                                                                                     \
    "str %[xa], [%[end], #16]\n\t"                                                                            \
    "str %[xb], [%[end], #20]\n\t"                                                                            \
    "ldr %[xa], [%[xb]]\n\t"                                                                                  \
    "ldr %[xc], [%[xb], #4]\n\t"                                                                              \
    "ldr %[w0], [%[xb], #8]\n\t"                                                                              \
    "ldr %[w1], [%[xb], #12]\n\t"                                                                             \
    "ldr %[a0], [%[xb], #16]\n\t"                                                                             \
    "ldr %[b0], [%[xb], #20]\n\t"                                                                             \
    "sxtb16 %[c0], %[xa], ror #8\n\t"                                                                         \
    "sxtb16 %[xa], %[xa]\n\t"                                                                                 \
    "sxtb16 %[a1], %[w0], ror #8\n\t"                                                                         \
    "sxtb16 %[w0], %[w0]\n\t"                                                                                 \
    "sxtb16 %[b1], %[a0], ror #8\n\t"                                                                         \
    "sxtb16 %[a0], %[a0]\n\t"                                                                                 \
    "str %[xa], [%[end], #-48]\n\t"                                                                           \
    "str %[c0], [%[end], #-44]\n\t"                                                                           \
    "str %[w0], [%[end], #-40]\n\t"                                                                           \
    "str %[a1], [%[end], #-36]\n\t"                                                                           \
    "str %[a0], [%[end], #-32]\n\t"                                                                           \
    "str %[b1], [%[end], #-28]\n\t"                                                                           \
    "sxtb16 %[c1], %[xc], ror #8\n\t"                                                                         \
    "sxtb16 %[xc], %[xc]\n\t"                                                                                 \
    "sxtb16 %[wp], %[w1], ror #8\n\t"                                                                         \
    "sxtb16 %[w1], %[w1]\n\t"                                                                                 \
    "sxtb16 %[xb], %[b0], ror #8\n\t"                                                                         \
    "sxtb16 %[b0], %[b0]\n\t"                                                                                 \
    "str %[xc], [%[end], #-24]\n\t"                                                                           \
    "str %[c1], [%[end], #-20]\n\t"                                                                           \
    "str %[w1], [%[end], #-16]\n\t"                                                                           \
    "str %[wp], [%[end], #-12]\n\t"                                                                           \
    "str %[b0], [%[end], #-8]\n\t"                                                                            \
    "str %[xb], [%[end], #-4]\n\t"                                                                            \
    "ldr %[wp], [%[end], #32]\n\t"                                                                            \
    "b 3b\n\t"                                                                                                \
    "9:"
#define EQ_C1_OPERANDS                                                                                       \
    : [a0] "=&r"(a0), [b0] "=&r"(b0), [c0] "=&r"(c0), [a1] "=&r"(a1), [b1] "=&r"(b1), [c1] "=&r"(c1),      \
      [xp] "+&r"(xp), [wp] "+&r"(wp), [xa] "=&r"(xa), [xb] "=&r"(xb), [xc] "=&r"(xc), [w0] "=&r"(w0),        \
      [w1] "=&r"(w1)                                                                                          \
    : [end] "r"(end)                                                                                          \
    : "cc", "memory"
/* two: n4 == 2 (in_c 8, VWW's 8->16): both groups at fixed offsets, no MAC loop, its entry or the pointer's rewind */
static inline __attribute__((always_inline)) void eq_c1_block(const eq_cv *p, const int32_t *xbuf, int32_t *end,
                                                              int8_t *out, int two)
{
    const int32_t *xp = two ? (const int32_t *)(uintptr_t)out : xbuf, *wp = p->w16; /* (two: xp the outputs) */
    int32_t a0, b0, c0, a1, b1, c1, xa, xb, xc, w0, w1;
    /* (ctx[1] out_c, ctx[2] the MAC loop's entry, ctx[3] the pixels' start: eq_c1_pairs3, once) */
    end[0] = (int32_t)out;
    if (two) {
        __asm__ volatile(".balign 4\n\t"
                         "3:\n\t" EQ_C1_BIAS
                         EQ_C1_FIRST("[%[end], #-48]", "[%[end], #-44]", "[%[end], #-40]", "[%[end], #-36]",
                                     "[%[end], #-32]", "[%[end], #-28]")
                         EQ_C1_NEXT("[%[end], #-24]", "[%[end], #-20]", "[%[end], #-16]", "[%[end], #-12]",
                                    "[%[end], #-8]", "[%[end], #-4]") EQ_C1_TAIL("", "", "", "xp", "[%[xp]], #2")
                         EQ_C1_NEXT_BLOCK2 EQ_C1_OPERANDS);
        return;
    }
    /* the stores after a load where one is free (a store after a load issues in 1 cycle, else 2) */
    /* the branch targets (3 and the MAC groups: 32-bit loads) word-aligned (a target at a halfword address costs a
     * fetch more a branch); from 3 to the ADD PC every instruction 32-bit */
    __asm__ volatile(".balign 4\n\t"
                     "3:\n\t" EQ_C1_BIAS
                     /* the first group (n4 >= 2 leaves a group), xp stepped past it */
                     EQ_C1_FIRST("[%[xp]], #24", "[%[xp], #-20]", "[%[xp], #-16]", "[%[xp], #-12]",
                                 "[%[xp], #-8]", "[%[xp], #-4]")
                     /* the other m = n4 - 1 groups eight a pass, entered at group (1 - n4) & 7 so every pass
                      * after the first is whole: its offset from 1 in ctx[2] (eq_c1_pairs3), one LDR and an ADD
                      * PC (4 cycles as the flag tests were; eight groups a pass: 3 cycles of CMP/BNE every 192 of
                      * MACs, not 96); the ADD at a word address (PC reads as its address + 4 = 1) */
                     "ldr.w %[xa], [%[end], #8]\n\t"
                     "add pc, %[xa]\n\t"
                     "nop\n\t"
                     "1:\n\t"
 EQ_W16_PAIR3_GROUP EQ_W16_PAIR3_GROUP EQ_W16_PAIR3_GROUP EQ_W16_PAIR3_GROUP
                     EQ_W16_PAIR3_GROUP EQ_W16_PAIR3_GROUP EQ_W16_PAIR3_GROUP EQ_W16_PAIR3_GROUP
                     "cmp %[xp], %[end]\n\t"
                     "bne 1b\n\t" EQ_C1_TAIL("ldr %[xp], [%[end], #12]\n\t", "ldr %[w0], [%[end]]\n\t",
                                               "add %[w0], %[w0], %[xc], lsr #8\n\t", "w0", "[%[w0]]")
                     EQ_C1_NEXT_BLOCK EQ_C1_OPERANDS);
}
#undef EQ_C1_RQ
#undef EQ_C1_BIAS
#undef EQ_C1_FIRST
#undef EQ_C1_NEXT
#undef EQ_C1_TAIL
#undef EQ_C1_NEXT_BLOCK
#undef EQ_C1_NEXT_BLOCK2
#undef EQ_C1_FILL_STEP
#undef EQ_C1_OPERANDS
#else
/* The C twin: the same stream, sums and requantization (no sign correction). */
static inline __attribute__((always_inline)) void eq_c1_block(const eq_cv *p, const int32_t *xbuf, int32_t *end,
                                                              int8_t *out, int two)
{
    const int32_t out_c = p->out_c, *wp = p->w16;
    (void)two;
    int32_t i, j, s[6];
    for (i = 0; i < out_c; i += 2) {
        const int32_t *xp = xbuf;
        for (j = 0; j < 6; ++j) {
            s[j] = wp[j / 3];
        }
        for (wp += 2; xp != end; xp += 6, wp += 4) {
            for (j = 0; j < 3; ++j) {
                s[j] = eq_smlad(wp[0], xp[2 * j], eq_smlad(wp[1], xp[2 * j + 1], s[j]));
                s[3 + j] = eq_smlad(wp[2], xp[2 * j], eq_smlad(wp[3], xp[2 * j + 1], s[3 + j]));
            }
        }
        for (j = 0; j < 6; ++j) {
            const int32_t *rq = wp + 3 * (j / 3);
            const int32_t h = (int32_t)(((int64_t)s[j] * rq[0] + ((int64_t)1 << 31)) >> 32);
            out[(j % 3) * out_c + i + j / 3] = (int8_t)edgeq_clamp((h + rq[1]) >> (rq[2] & 0xFF), -128, 127);
        }
        wp += 6;
    }
}
#endif

/* The stream's blocks: with in (stride 1) the blocks of three consecutive pixels of the whole layer (at least 3; the
 * last one or two pixels: the last three again, same bytes rewritten), expanded here, in one call (the call's
 * registers saved once a layer, not once a block); without, the one block already in xbuf (n4 groups of 4 taps: the
 * windows path of edgeq_conv.c too). */
/* The blocks from s to last (see eq_c1_pairs3); two: eq_c1_block's n4 == 2 variant */
static inline __attribute__((always_inline)) void eq_c1_run(const eq_cv *p, const int8_t *s, const int8_t *last,
                                                            int8_t *out, int8_t *out_last, eq_x16_gather3 *g,
                                                            size_t d, size_t step, int32_t *xbuf, int32_t *end,
                                                            int two)
{
    const int32_t c = p->in_c;
    const size_t d3 = g ? 3 * d : 3 * (size_t)c, o3 = 3 * (size_t)p->out_c;
    for (;;) {
        if (__builtin_expect(g != NULL, 0)) { /* (the fill's loop falls through: the 1x1 layers' blocks) */
            g(s, d, step, xbuf);
        } else if (s) {
            eq_x16_fill3(xbuf, s, s + c, s + 2 * c, c);
        }
        eq_c1_block(p, xbuf, end, out, two);
        if (s == last) {
            return;
        }
        s += d3;
        out += o3;
        if (s > last) { /* the last one or two pixels: the last three again (same bytes rewritten) */
            s = last;
            out = out_last;
        }
    }
}

/* The stream's blocks: with in and no g (stride 1) the blocks of three consecutive pixels of the whole layer (at least
 * 3; the last one or two pixels: the last three again, same bytes rewritten), expanded here; with g the `total`
 * blocks that g(in + 3 i d, d, step, xbuf) gathers (edgeq_conv.c's runs of windows inside the image), outputs of
 * block i at out + 3 i out_c; without either, the one block already in xbuf (n4 groups of 4 taps: the other blocks
 * of edgeq_conv.c). One call a run (its registers saved and the context words written once); one copy of the block,
 * two with the asm (in_c 8: the n4 == 2 variant, ~7 cycles a channel pair less). */
void eq_c1_pairs3(const eq_cv *p, const int8_t *in, int32_t total, int32_t *xbuf, int32_t n4, int8_t *out,
                  eq_x16_gather3 *g, size_t d, size_t step)
{
    const int32_t c = p->in_c, out_c = p->out_c;
    int32_t *const end = xbuf + 6 * n4;
    const int32_t q = g ? 3 * (total - 1) : total - 3; /* (the last block's first pixel) */
    const int8_t *const last = in ? in + (size_t)q * (g ? d : (size_t)c) : in;
    int8_t *const out_last = in ? out + (size_t)q * out_c : out;
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS)
    end[1] = out_c;
    end[2] = ((1 - n4) & 7) * 88; /* the MAC loop's entry: group (1 - n4) & 7 of eight (22 32-bit instructions) */
    end[3] = (int32_t)xbuf;
    end[4] = 0; /* (EQ_C1_NEXT_BLOCK: no next block) */
    /* the stride-1 1x1 layers: every block in the asm (EQ_C1_NEXT_BLOCK), where its context words fit in the caller's
     * xbuf (eq_conv1x1_x16_3's EQ_X16_WORDS3 + EQ_C1_CTX words); the windows' gathers (g) and single blocks here */
    const int run = in && !g && last != in && 6 * n4 + 9 <= EQ_X16_WORDS3 + EQ_C1_CTX;
    if (run) {
        end[4] = (int32_t)(last - in);
        end[5] = (int32_t)in;
        end[6] = c;
        end[7] = (int32_t)out_last;
        end[8] = (int32_t)p->w16;
    }
    if (n4 == 2 && !g) { /* (in_c 8: 1x1 layers only, windows are 24 bytes or more): one asm run */
        if (in) {
            eq_x16_fill3(xbuf, in, in + c, in + 2 * c, c);
        }
        eq_c1_block(p, xbuf, end, out, 1);
        return;
    }
    eq_c1_run(p, in, run ? in : last, out, out_last, g, d, step, xbuf, end, 0); /* (run: the asm ran them all) */
#else
    eq_c1_run(p, in, last, out, out_last, g, d, step, xbuf, end, 0);
#endif
}

static void eq_conv1x1_x16_3(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int32_t xbuf[EQ_X16_WORDS3 + EQ_C1_CTX];
    const int32_t c = p->in_c, n4 = c >> 2, out_c = p->out_c, total = p->batches * p->out_h * p->out_w;
    const int32_t hw = p->out_h * p->out_w, unit = p->stride_h == 1 && p->stride_w == 1;
    const int stream = !p->bias_eff; /* (the generator's 1x1 stream, see above) */
    const size_t row = (size_t)p->in_w * c, img = (size_t)p->in_h * row;
    const int8_t *src[3];
    int32_t q, k, n, b = 0, oy = 0, ox = 0;
    if (stream && unit) { /* consecutive pixels: the whole layer in eq_c1_pairs3 (this loop spilled its state) */
        eq_c1_pairs3(p, in, total, xbuf, n4, out, NULL, 0, 0);
        return;
    }
    for (q = 0; q < total; q += 3) {
        n = total - q < 3 ? total - q : 3;
        if (n < 3 && stream) { /* the last one or two pixels: the last three again (same bytes rewritten) */
            q = total - 3;
            n = 3;
            b = q / hw;
            oy = (q - b * hw) / p->out_w;
            ox = q - b * hw - oy * p->out_w;
        }
        if (unit) { /* consecutive pixels: no (batch, row, column) */
            src[0] = in + (size_t)q * c;
            src[1] = n > 1 ? src[0] + c : src[0];
            src[2] = n > 2 ? src[1] + c : src[0];
        }
        for (k = 0; k < n && !unit; ++k) {
            src[k] = in + b * img + (size_t)oy * p->stride_h * row + (size_t)ox * p->stride_w * c;
            if (++ox == p->out_w) {
                ox = 0;
                if (++oy == p->out_h) {
                    oy = 0;
                    ++b;
                }
            }
        }
        if (n < 3) { /* the last one or two pixels: the 2 x 2 block */
            eq_x16_fill(xbuf, src[0], n > 1 ? src[1] : src[0], c);
            eq_w16_channels(p, xbuf, n4, out + (size_t)q * out_c, n > 1 ? out + (size_t)(q + 1) * out_c : NULL);
            break;
        }
        eq_x16_fill3(xbuf, src[0], src[1], src[2], c);
        if (stream) {
            eq_c1_pairs3(p, NULL, 0, xbuf, n4, out + (size_t)q * out_c, NULL, 0, 0);
        } else {
            eq_w16_channels3(p, xbuf, n4, out + (size_t)q * out_c);
        }
    }
}

int eq_conv1x1_w16(const eq_cv *p, const int8_t *in, int8_t *out)
{
    if (!p->w16 || p->k_h != 1 || p->k_w != 1 || p->pad_h != 0 || p->pad_w != 0 || (p->in_c & 3) != 0 ||
        p->in_c > EDGEQ_X16_WORDS) {
        return 0;
    }
    if (p->rq && p->in_c >= EQ_W16_THREE_1X1_MIN) { /* (the generator's c1_stream: in_c >= 8 as here) */
        eq_conv1x1_x16_3(p, in, out);
        return 1;
    }
    return 0; /* (in_c 4 or the full requantization: the windows path of edgeq_conv.c, gathering each pixel) */
}
#endif
