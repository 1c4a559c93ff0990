/* edgeq runtime: CONV_2D's 1x1 layers on DSP cores (Cortex-M4/M7/M33): pixels sign-extended to int16 once and run
 * against the generator's int16 weights (w16) by the register blocks of edgeq_conv.c. See edgeq_conv.h. */
#include "edgeq_conv.h"

#include "edgeq_dsp.h"

#if defined(EDGEQ_DSP) && defined(EDGEQ_CONV_W16)
typedef edgeq_conv2d_params eq_cv;

/* 1x1 convolution (no padding), in_c a multiple of 4: every window is one contiguous run, so pixels pair up in
 * flattened order (across rows and batches), and odd row widths leave no pixel to the slower single-pixel loop. */
static void eq_conv1x1_x16(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int32_t xbuf[EDGEQ_X16_WORDS];
    const int32_t hw = p->out_h * p->out_w;
    const int32_t total = p->batches * hw;
    const int unit = p->stride_h == 1 && p->stride_w == 1; /* (1x1, no padding: in_h == out_h, in_w == out_w) */
    int32_t px, k;
    for (px = 0; px < total; px += 2) {
        const int32_t two = px + 1 < total;
        const int8_t *src[2];
        for (k = 0; k <= two; ++k) {
            if (unit) { /* stride 1: input pixels in output order (no divisions: ~20 cycles a pixel) */
                src[k] = in + (size_t)(px + k) * p->in_c;
                continue;
            }
            const int32_t b = (px + k) / hw, r = (px + k) - b * hw;
            const int32_t oy = r / p->out_w, ox = r - oy * p->out_w;
            src[k] = in + (((size_t)b * p->in_h + (size_t)oy * p->stride_h) * p->in_w + (size_t)ox * p->stride_w) *
                              p->in_c;
        }
        eq_x16_fill(xbuf, src[0], two ? src[1] : src[0], p->in_c);
        eq_w16_channels(p, xbuf, p->in_c >> 2, out, two ? out + p->out_c : NULL);
        out += 2 * p->out_c;
    }
}

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

static void eq_conv1x1_x16_3(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int32_t xbuf[EQ_X16_WORDS3];
    const int32_t c = p->in_c, n4 = c >> 2, out_c = p->out_c;
    int32_t left = p->batches * p->out_h * p->out_w, k, b = 0, oy = 0, ox = 0;
    const int8_t *src[3];
    if (p->stride_h == 1 && p->stride_w == 1) { /* consecutive runs of 3 * in_c bytes */
        for (; left >= 3; left -= 3, in += 3 * c, out += 3 * out_c) {
            eq_x16_fill3(xbuf, in, in + c, in + 2 * c, c);
            eq_w16_channels3(p, xbuf, n4, out);
        }
        src[0] = in;
        src[1] = in + c;
    } else { /* strided: the pixels stepped through (batch, row, column) */
        const size_t row = (size_t)p->in_w * c, img = (size_t)p->in_h * row;
        for (; left > 0; left -= 3, out += 3 * out_c) {
            for (k = 0; k < 3 && k < left; ++k) {
                src[k] = in + b * img + (size_t)oy * p->stride_h * row + (size_t)ox * p->stride_w * c;
                if (++ox == p->out_w) {
                    ox = 0;
                    if (++oy == p->out_h) {
                        oy = 0;
                        ++b;
                    }
                }
            }
            if (left < 3) {
                break;
            }
            eq_x16_fill3(xbuf, src[0], src[1], src[2], c);
            eq_w16_channels3(p, xbuf, n4, out);
        }
    }
    if (left > 0) { /* the last one or two pixels: the 2 x 2 block */
        eq_x16_fill(xbuf, src[0], left > 1 ? src[1] : src[0], c);
        eq_w16_channels(p, xbuf, n4, out, left > 1 ? out + out_c : NULL);
    }
}

int eq_conv1x1_w16(const eq_cv *p, const int8_t *in, int8_t *out)
{
    if (!p->w16 || p->k_h != 1 || p->k_w != 1 || p->pad_h != 0 || p->pad_w != 0 || (p->in_c & 3) != 0 ||
        p->in_c > EDGEQ_X16_WORDS) {
        return 0;
    }
    if (p->rq && p->in_c >= EQ_W16_THREE_1X1_MIN) {
        eq_conv1x1_x16_3(p, in, out);
        return 1;
    }
    if (!EQ_W16_THREE(p, p->in_c)) { /* (1x1 with 3 pixels x 2 channels: the windows path of edgeq_conv.c) */
        eq_conv1x1_x16(p, in, out);
        return 1;
    }
    return 0;
}
#endif
