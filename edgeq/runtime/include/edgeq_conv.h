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
    /* NULL, or (EDGEQ_CONV_W16 builds, windows of at most EDGEQ_X16_WORDS bytes rounded up to words; filter is
     * NULL then) the weights as int16 pairs: per channel pair (out_c rounded up to even, zero weights past the end)
     * and group of 4 taps (K rounded up to words, zero padded) the words {w0[k], w0[k+2]}, {w0[k+1], w0[k+3]},
     * {w1[k], w1[k+2]}, {w1[k+1], w1[k+3]}, low halfword first. */
    const int32_t *w16;
} edgeq_conv2d_params;

void edgeq_conv2d(const edgeq_conv2d_params *p, const int8_t *in, int8_t *out);

/* Internal (edgeq_conv_mve.c, Helium builds): runs the layer and returns 1 when one of the Helium paths takes it,
 * 0 otherwise (edgeq_conv2d then runs its compact Helium fallback). */
int edgeq_conv2d_mve(const edgeq_conv2d_params *p, const int8_t *in, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EDGEQ_CONV_H */
