/* edgeq runtime: CONV_2D, int8 NHWC, bit-exact with TFLite Micro's reference kernel.
 *
 * One entry point, edgeq_conv2d(), picks its code path from the compiler flags and the shapes:
 *   - __ARM_FEATURE_MVE (Cortex-M55/M85, Helium): VMLADAVA over 16 bytes at a time, vectorized requantization
 *     (VQRDMULH + rounding shift) and a scatter store; windows of 17..576 bytes interleaved per 16-byte chunk for
 *     three pixels, two output channels per pass (six accumulators; rq layers' channel pairs in one asm loop);
 *     1x1 on <= 16 channels four pixels held in registers, every channel in one asm loop; other windows four
 *     output pixels per pass over the weights; layers neither Helium path takes (windows over 1280 bytes, dilated
 *     windows over 320 bytes not interleaved) run one pixel x 2 channels loop over the taps inside the image,
 *     predicated 16-byte VMLADAV + VADDVA (the input offset folded per window), no SMLAD kernels in Helium builds
 *     (code size; 2-3x fewer instructions than those were);
 *   - __ARM_FEATURE_DSP (Cortex-M4/M7/M33): 3 pixels x 2 channels (2 x 2 for windows under 24 bytes) SMLAD blocks
 *     on pixels sign-extended to int16 once and weights pre-extended by the generator (w16), requantization in asm;
 *     windows over the scratch (up to twice it, in_c a multiple of 4) on the same block in chunks of K, partial
 *     sums kept in the scratch;
 *     3x3 stride-2 layers on 3 channels without left padding (VWW's first layer; ReLU-like) on a ring of three input
 *     rows converted once to int16 x + in_offset, windows read in place at fixed offsets (edgeq_conv.c eq_conv_first,
 *     the generator's ops_core._conv_first_stream layout);
 *   - otherwise (or -DEDGEQ_NO_DSP / -DEDGEQ_NO_MVE) plain C99.
 * -DEDGEQ_EMULATE_DSP runs the DSP path on any host with C models of the instructions.
 * Stack: the im2col / int16 scratch is EDGEQ_CONV_SCRATCH_BYTES (1280 bytes) plus one column, nothing in the arena;
 * the DSP path's 3 pixels x 2 channels block takes 1.5x that (1920 bytes) plus one column, the Helium interleaved
 * path EDGEQ_CONV_MVE_BYTES (edgeq_conv_mve.c: 3 x K rounded up to 16 + K + 16 for its largest window K; default
 * 2320, K = 576).
 */
#ifndef EDGEQ_CONV_H
#define EDGEQ_CONV_H

#include "edgeq_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stack scratch of the kernels: two windows sign-extended to int16 (DSP) or four im2col columns (Helium). The
 * generator emits pre-extended weights (w16) for the windows that fit the default 1280 (CONV_X16_WORDS in
 * ops_core.py); its per-model edgeq_config.h (included by edgeq_common.h) may set less: never less than its layers
 * use, so every layer keeps its path (edgeq/codegen/scratch.py). */
#ifndef EDGEQ_CONV_SCRATCH_BYTES
#define EDGEQ_CONV_SCRATCH_BYTES 1280
#endif
#define EDGEQ_X16_WORDS (EDGEQ_CONV_SCRATCH_BYTES / 4)

/* Defined where the DSP path runs (Cortex-M4/M7/M33, or a host with -DEDGEQ_EMULATE_DSP; not on Helium cores and
 * not with -DEDGEQ_NO_DSP): the generated model then holds the int16 weights (w16) instead of the int8 ones. */
#if !defined(EDGEQ_NO_DSP) && !(!defined(EDGEQ_NO_MVE) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)) && \
    ((defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP) || defined(EDGEQ_EMULATE_DSP))
#define EDGEQ_CONV_W16 1
#endif

/* Requantization per output channel when per_channel != 0, otherwise mult[0]/shift[0] for every channel; mult
 * and shift are NULL when rq is given (rq = [out_c][3] {mult, 2^(e-1) + (out_offset << e), e}, right shift e >= 1,
 * emitted only when every accumulator provably has |acc| < 2^30 and the rounding constant plus the high product
 * fit int32: the short exact requantization with the output zero point folded in; the Helium path adds
 * out_offset after its rounding shift and reads rq[0] and rq[2] only). */
typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t in_offset;              /* -input zero point */
    int32_t out_offset;             /* output zero point */
    int32_t act_min, act_max;
    int32_t per_channel;
    const int8_t *filter;           /* [out_c][k_h][k_w][in_c] */
    const int32_t *bias;            /* [out_c] or NULL */
    const int32_t *bias_eff;        /* [out_c]: bias + in_offset * sum(filter of the channel), precomputed */
    const int32_t *mult;
    const int32_t *shift;
    const int32_t *rq;
    /* NULL, or (EDGEQ_CONV_W16 builds, windows of at most EDGEQ_X16_WORDS bytes rounded up to words, or of twice that
     * with in_c a multiple of 4; filter is NULL then) the weights as int16 pairs: per channel pair (out_c rounded up to
     * even, zero weights past the end) and group of 4 taps (K rounded up to words, zero padded) the words {w0[k],
     * w0[k+2]}, {w0[k+1], w0[k+3]}, {w1[k], w1[k+2]}, {w1[k+1], w1[k+3]}, low halfword first. ReLU-like layers of the
     * 1x1 and 3-pixel windows paths (edgeq_conv1x1.c; ops_core._conv1x1_stream) get one stream instead, marked by
     * bias_eff NULL (rq then points into it): per channel pair {2 bias_eff[c0], 2 bias_eff[c1]}, the pair's words above
     * with every weight doubled, then both channels' rq triples (their e words carry the pair loop's state above bit
     * 7: edgeq_conv1x1.c). */
    const int32_t *w16;
} edgeq_conv2d_params;

void edgeq_conv2d(const edgeq_conv2d_params *p, const int8_t *in, int8_t *out);

#ifdef EDGEQ_CONV_W16
/* Internal to the DSP paths of edgeq_conv.c (windows, blocks, requantization) and edgeq_conv1x1.c (1x1 layers): not
 * part of the API. */
#include "edgeq_dsp.h" /* (eq_load32, eq_sxtb16: the fill's C twin below) */
/* The 3 pixels x 2 channels block: short requantization, three windows of K4 bytes in the scratch, and K4 >= 24
 * (measured on MLPerf Tiny under the M4 cycle model with the asm requantization: VWW's first layer (K4 28) -7 %,
 * its 32->32 and 32->64 1x1 -2..-4 %; the 16->32 1x1 +3 % and the 8->16 one +12 %, so K4 16 and 8 stay 2 x 2). */
#ifndef EQ_W16_THREE_MIN
#define EQ_W16_THREE_MIN 24
#endif
/* The three pixels' int16 windows take 1.5x the two-pixel scratch (EQ_X16_WORDS3 words, 1920 bytes of stack): every
 * window of the windows path fits (IC's K = 288: 0.68 -> 0.8 MAC/cycle). */
#define EQ_X16_WORDS3 (EDGEQ_X16_WORDS * 3 / 2)
#define EQ_W16_THREE(p, K4) ((p)->rq && (K4) >= EQ_W16_THREE_MIN && 6 * ((K4) >> 2) <= EQ_X16_WORDS3)
/* Inline-asm text shared by the 3 pixels x 2 channels blocks (edgeq_conv.c eq_w16_pair3, edgeq_conv1x1.c's stream):
 * two steps of 2 taps (one group of 4) of pixels a, b, c (6 words at xp, post-incremented by 24) times one channel
 * pair (4 words at wp, +16) into the sums a0, b0, c0 / a1, b1, c1; operands named xa, xb, xc, w0, w1, xp, wp. */
#define EQ_W16_LOAD5(xa_src, xb_src, xc_src, w0_src, w1_src)                                                 \
    "ldr %[xa], " xa_src "\n\t"                                                                              \
    "ldr %[xb], " xb_src "\n\t"                                                                              \
    "ldr %[xc], " xc_src "\n\t"                                                                              \
    "ldr %[w0], " w0_src "\n\t"                                                                              \
    "ldr %[w1], " w1_src "\n\t"
#define EQ_W16_SMLAD6                                                                                        \
    "smlad %[a0], %[w0], %[xa], %[a0]\n\t"                                                                   \
    "smlad %[b0], %[w0], %[xb], %[b0]\n\t"                                                                   \
    "smlad %[c0], %[w0], %[xc], %[c0]\n\t"                                                                   \
    "smlad %[a1], %[w1], %[xa], %[a1]\n\t"                                                                   \
    "smlad %[b1], %[w1], %[xb], %[b1]\n\t"                                                                   \
    "smlad %[c1], %[w1], %[xc], %[c1]\n\t"
/* one step of 2 taps: the five loads (sources as asm operand text), then the six accumulating SMLADs */
#define EQ_W16_PAIR3_STEP(xa_src, xb_src, xc_src, w0_src, w1_src)                                             \
    EQ_W16_LOAD5(xa_src, xb_src, xc_src, w0_src, w1_src) EQ_W16_SMLAD6
#define EQ_W16_PAIR3_GROUP                                                                                   \
    EQ_W16_PAIR3_STEP("[%[xp]], #24", "[%[xp], #-16]", "[%[xp], #-8]", "[%[wp]], #16", "[%[wp], #-8]")       \
    EQ_W16_PAIR3_STEP("[%[xp], #-20]", "[%[xp], #-12]", "[%[xp], #-4]", "[%[wp], #-12]", "[%[wp], #-4]")
/* The 3-pixel layout's fill (edgeq_conv.c eq_x16_rows3: window rows; edgeq_conv1x1.c eq_x16_fill3: 1x1 pixels): per
 * 4 bytes of pixels a, b, c the six int16 words {a even, a odd, b even, b odd, c even, c odd}. The asm step (named
 * operands a, b, c, x post-incremented): the six words in ascending registers for one STM (7 cycles; six STR 11-12,
 * 3 STRD 9), r7 left alone (frame pointer); callers clobber r4-r6, r8-r10. The C twin: n a multiple of 4. */
#define EQ_X16_SPLIT3_STORE                                                                                  \
    "sxtb16 r5, r4, ror #8\n\t"                                                                              \
    "sxtb16 r4, r4\n\t"                                                                                      \
    "sxtb16 r8, r6, ror #8\n\t"                                                                              \
    "sxtb16 r6, r6\n\t"                                                                                      \
    "sxtb16 r10, r9, ror #8\n\t"                                                                             \
    "sxtb16 r9, r9\n\t"                                                                                      \
    "stmia %[x]!, {r4, r5, r6, r8, r9, r10}\n\t"
#define EQ_X16_FILL3_WORD                                                                                    \
    "ldr r4, [%[a]], #4\n\t"                                                                                 \
    "ldr r6, [%[b]], #4\n\t"                                                                                 \
    "ldr r9, [%[c]], #4\n\t" EQ_X16_SPLIT3_STORE
static inline void eq_x16_fill3_c(int32_t *xw, const int8_t *a, const int8_t *b, const int8_t *c, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i += 4, xw += 6) {
        const int32_t va = eq_load32(a + i), vb = eq_load32(b + i), vc = eq_load32(c + i);
        xw[0] = eq_sxtb16(va);
        xw[1] = eq_sxtb16_ror8(va);
        xw[2] = eq_sxtb16(vb);
        xw[3] = eq_sxtb16_ror8(vb);
        xw[4] = eq_sxtb16(vc);
        xw[5] = eq_sxtb16_ror8(vc);
    }
}
/* Sign-extend n bytes (a multiple of 4) of pixels a and b into xw, interleaved as eq_w16_channels reads. */
int32_t *eq_x16_fill(int32_t *xw, const int8_t *a, const int8_t *b, int32_t n);
/* All output channels of two pixels (out2 NULL: one) on the 2 x 2 block; of three pixels (outputs of pixel j at
 * out + j * out_c) on the 3 x 2 block with the short requantization (p->rq). */
void eq_w16_channels(const edgeq_conv2d_params *p, const int32_t *xbuf, int32_t n4, int8_t *restrict out,
                     int8_t *restrict out2);
void eq_w16_channels3(const edgeq_conv2d_params *p, const int32_t *xbuf, int32_t n4, int8_t *restrict out);
/* The ReLU-like stream (bias_eff NULL, edgeq_conv1x1.c): with in NULL (and g NULL) the one 3-pixel block in xbuf (n4
 * groups of 4 taps, EQ_C1_CTX spare words after them: the stream's context), outputs of pixel j at out + j * out_c;
 * with g the `total` blocks g(in + 3 i d, d, step, xbuf) gathers, outputs of block i at out + 3 i out_c. */
#define EQ_C1_CTX 5
typedef void eq_x16_gather3(const int8_t *a, size_t d, size_t step, int32_t *xw);
void eq_c1_pairs3(const edgeq_conv2d_params *p, const int8_t *in, int32_t total, int32_t *xbuf, int32_t n4,
                  int8_t *out, eq_x16_gather3 *g, size_t d, size_t step);
/* Runs a 1x1 layer (no padding, w16 weights) and returns 1 when one of the 1x1 paths takes it, else 0. */
int eq_conv1x1_w16(const edgeq_conv2d_params *p, const int8_t *in, int8_t *out);
#endif

/* Internal (edgeq_conv.c; the int16 windows path's dilated rows, edgeq_lowbit.c's im2col): the window at (iy0, ix0)
 * into col tap by tap, k_h x k_w x in_c bytes, taps outside the image as the input zero point. */
void eq_conv_taps(const edgeq_conv2d_params *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int8_t *col);

/* Internal (edgeq_conv_mve.c, Helium builds): runs the layer and returns 1 when one of the Helium paths takes it,
 * 0 otherwise (edgeq_conv2d then runs its compact Helium fallback). */
int edgeq_conv2d_mve(const edgeq_conv2d_params *p, const int8_t *in, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EDGEQ_CONV_H */
