/* edgeq runtime: CONV_2D's Helium (MVE) paths, Cortex-M55/M85 (see edgeq_conv.h for the contract and the code
 * paths). edgeq_conv2d() in edgeq_conv.c calls edgeq_conv2d_mve() first in Helium builds; layers neither path here
 * takes run the compact Helium fallback in eq_conv_general there. Kept apart from the DSP and plain-C paths so each
 * core's kernels can be read (and changed) on their own.
 */
#include "edgeq_conv.h"

#include "edgeq_dsp.h"

#include "edgeq_mve.h"

#include <string.h>

#ifdef EDGEQ_MVE

typedef edgeq_conv2d_params eq_cv;

/* n bytes copied / filled with predicated 16-byte vector accesses (im2col runs are short and of any length). */
static inline void eq_mve_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n > 0; n -= 16, dst += 16, src += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
    }
}

static inline void eq_mve_fill(int8_t *dst, int8_t v, int32_t n)
{
    const int8x16_t vv = vdupq_n_s8(v);
    for (; n > 0; n -= 16, dst += 16) {
        vstrbq_p_s8(dst, vv, vctp8q((uint32_t)n));
    }
}

/* One window as a contiguous column; taps outside the image get the input zero point (see the top comment). */
static void eq_mve_im2col(const eq_cv *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int8_t *col)
{
    const int8_t pad = (int8_t)(-p->in_offset);
    const int32_t row_len = p->k_w * p->in_c;
    const int row_inside = p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w;
    int32_t ky, kx;
    for (ky = 0; ky < p->k_h; ++ky, col += row_len) {
        const int32_t iy = iy0 + p->dil_h * ky;
        if (iy < 0 || iy >= p->in_h) {
            eq_mve_fill(col, pad, row_len);
        } else if (row_inside) {
            eq_mve_copy(col, in_b + ((size_t)iy * p->in_w + ix0) * p->in_c, row_len);
        } else {
            for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + p->dil_w * kx;
                if (ix < 0 || ix >= p->in_w) {
                    eq_mve_fill(col + kx * p->in_c, pad, p->in_c);
                } else {
                    eq_mve_copy(col + kx * p->in_c, in_b + ((size_t)iy * p->in_w + ix) * p->in_c, p->in_c);
                }
            }
        }
    }
}

/* acc[j] += w . x_j over len bytes: each 16-byte weight vector feeds four VMLADAVAs; the tail loads zeroed weight
 * lanes past the end, whose products add nothing. */
static inline void eq_mve_dot4(const int8_t *w, const int8_t *x0, const int8_t *x1, const int8_t *x2,
                               const int8_t *x3, int32_t len, int32_t *acc0, int32_t *acc1, int32_t *acc2,
                               int32_t *acc3)
{
    int32_t a0 = *acc0, a1 = *acc1, a2 = *acc2, a3 = *acc3;
#if defined(__OPTIMIZE__) /* the asm needs more registers than an unoptimized build has free */
    if (len >= 16) {
        /* GCC indexes every load from one induction variable (an address add per load); written out with
         * post-increment loads and a low-overhead loop: 10 instructions per 64 MACs. */
        const int32_t chunks = len >> 4;
        __asm__ volatile("dls lr, %[n]\n\t"
                         "1:\n\t"
                         "vldrb.8 q0, [%[w]], #16\n\t"
                         "vldrb.8 q1, [%[x0]], #16\n\t"
                         "vmladava.s8 %[a0], q1, q0\n\t"
                         "vldrb.8 q2, [%[x1]], #16\n\t"
                         "vmladava.s8 %[a1], q2, q0\n\t"
                         "vldrb.8 q3, [%[x2]], #16\n\t"
                         "vmladava.s8 %[a2], q3, q0\n\t"
                         "vldrb.8 q1, [%[x3]], #16\n\t"
                         "vmladava.s8 %[a3], q1, q0\n\t"
                         "le lr, 1b"
                         : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3), [w] "+r"(w), [x0] "+r"(x0),
                           [x1] "+r"(x1), [x2] "+r"(x2), [x3] "+r"(x3)
                         : [n] "r"(chunks)
                         : "q0", "q1", "q2", "q3", "lr", "memory");
        len &= 15;
    }
#endif
    for (; len >= 16; len -= 16) {
        const int8x16_t wv = vldrbq_s8(w);
        a0 = vmladavaq_s8(a0, vldrbq_s8(x0), wv);
        a1 = vmladavaq_s8(a1, vldrbq_s8(x1), wv);
        a2 = vmladavaq_s8(a2, vldrbq_s8(x2), wv);
        a3 = vmladavaq_s8(a3, vldrbq_s8(x3), wv);
        w += 16;
        x0 += 16;
        x1 += 16;
        x2 += 16;
        x3 += 16;
    }
    if (len > 0) {
        const mve_pred16_t pr = vctp8q((uint32_t)len);
        const int8x16_t wv = vldrbq_z_s8(w, pr);
        a0 = vmladavaq_s8(a0, vldrbq_z_s8(x0, pr), wv);
        a1 = vmladavaq_s8(a1, vldrbq_z_s8(x1, pr), wv);
        a2 = vmladavaq_s8(a2, vldrbq_z_s8(x2, pr), wv);
        a3 = vmladavaq_s8(a3, vldrbq_z_s8(x3, pr), wv);
    }
    *acc0 = a0;
    *acc1 = a1;
    *acc2 = a2;
    *acc3 = a3;
}

/* Output channel c of the four pixels (one per lane): requantized, zero point, clamp, scattered to the pixels. With
 * rq the short form (eq_rq_fast): VQRDMULH is SRDHM, adding acc >> 31 before VRSHL's round-half-up shift gives
 * RoundingDivideByPOT's ties away from zero. The fields are read through locals by the callers: every int8 store
 * could alias p. */
static inline void eq_mve_store4(int32_t a0, int32_t a1, int32_t a2, int32_t a3, const int32_t *rq,
                                 const int32_t *mult, const int32_t *shift,
                                 int32_t c, int32_t zp, int32x4_t lo, int32x4_t hi, uint32x4_t offs,
                                 mve_pred16_t store, int8_t *out)
{
    int32x4_t v = vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vdupq_n_s32(a0), 1), 2), 3);
    if (rq) {
        const int32x4_t h = vaddq_s32(vqrdmulhq_n_s32(v, rq[3 * c]), vshrq_n_s32(v, 31));
        v = vrshlq_n_s32(h, -rq[3 * c + 2]);
    } else {
        v = eq_mve_mbqm(v, mult[c], shift[c]);
    }
    v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zp), lo), hi);
    vstrbq_scatter_offset_p_s32(out + c, offs, v, store);
}

/* n (1..4) consecutive output pixels, every output channel: pixel j's window is `rows` runs of `len` bytes at
 * x[j], x[j] + rs[j], ... (x[j] valid for j >= n too); one pass over the weights serves the four pixels. */
static __attribute__((noinline)) void eq_mve_pixels4(const eq_cv *p, const int8_t *const x[4], const int32_t rs[4], int32_t rows,
                           int32_t len, int32_t n, int8_t *restrict out)
{
    const int32_t K = rows * len, out_c = p->out_c, zp = p->out_offset;
    const int32_t *const bias = p->bias_eff, *const rq = p->rq;
    const int32_t pc = p->per_channel;
    const int32_t *const mult = p->mult, *const shift = p->shift;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const mve_pred16_t store = vctp32q((uint32_t)n);
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)out_c);
    const int8_t *const x0 = x[0], *const x1 = x[1], *const x2 = x[2], *const x3 = x[3];
    const int8_t *w = p->filter;
    int32_t c, r, a0, a1, a2, a3;
    if (!rq && !pc) { /* per-tensor: channel 0's multiplier and shift for every channel */
        for (c = 0; c < out_c; ++c, w += K) {
            a0 = a1 = a2 = a3 = bias[c];
            for (r = 0; r < rows; ++r) {
                eq_mve_dot4(w + r * len, x0 + r * rs[0], x1 + r * rs[1], x2 + r * rs[2], x3 + r * rs[3], len,
                            &a0, &a1, &a2, &a3);
            }
            eq_mve_store4(a0, a1, a2, a3, NULL, mult, shift, 0, zp, lo, hi, offs, store, out + c);
        }
        return;
    }
    if (rows == 1 && len <= 16) { /* short windows (few input channels): the four input vectors stay in registers */
        const mve_pred16_t pr = vctp8q((uint32_t)len);
        const int8x16_t v0 = vldrbq_z_s8(x0, pr), v1 = vldrbq_z_s8(x1, pr), v2 = vldrbq_z_s8(x2, pr);
        const int8x16_t v3 = vldrbq_z_s8(x3, pr);
        if (rq && p->act_min == -128 && p->act_max == 127) {
            /* the common case unswitched (short requantization, no activation clamp): int8 saturation as a
             * saturating shift up and back, so the four inputs, offs and the temporaries fit the eight q registers
             * (VWW's 8->16 and 16->32 1x1 spilled one and re-tested rq per channel: ~44 instructions a channel) */
            const int32_t *rqc = rq;
            int8_t *oc = out;
            for (c = 0; c < out_c; ++c, w += K, rqc += 3, ++oc) {
                const int8x16_t wv = vldrbq_z_s8(w, pr);
                const int32_t b = bias[c];
                int32x4_t v = vdupq_n_s32(vmladavaq_s8(b, v0, wv));
                v = vsetq_lane_s32(vmladavaq_s8(b, v1, wv), v, 1);
                v = vsetq_lane_s32(vmladavaq_s8(b, v2, wv), v, 2);
                v = vsetq_lane_s32(vmladavaq_s8(b, v3, wv), v, 3);
                v = vrshlq_n_s32(vaddq_s32(vqrdmulhq_n_s32(v, rqc[0]), vshrq_n_s32(v, 31)), -rqc[2]);
                v = vshrq_n_s32(vqshlq_n_s32(vaddq_n_s32(v, zp), 24), 24);
                vstrbq_scatter_offset_p_s32(oc, offs, v, store);
            }
            return;
        }
        for (c = 0; c < out_c; ++c, w += K) {
            const int8x16_t wv = vldrbq_z_s8(w, pr);
            eq_mve_store4(vmladavaq_s8(bias[c], v0, wv), vmladavaq_s8(bias[c], v1, wv), vmladavaq_s8(bias[c], v2, wv),
                          vmladavaq_s8(bias[c], v3, wv), rq, mult, shift, c, zp, lo, hi, offs, store, out);
        }
        return;
    }
    if (rows == 1) { /* 1x1 and gathered windows: one run per pixel */
        for (c = 0; c < out_c; ++c, w += K) {
            a0 = a1 = a2 = a3 = bias[c];
            eq_mve_dot4(w, x0, x1, x2, x3, len, &a0, &a1, &a2, &a3);
            eq_mve_store4(a0, a1, a2, a3, rq, mult, shift, c, zp, lo, hi, offs, store, out);
        }
        return;
    }
    for (c = 0; c < out_c; ++c, w += K) {
        a0 = a1 = a2 = a3 = bias[c];
        for (r = 0; r < rows; ++r) {
            eq_mve_dot4(w + r * len, x0 + r * rs[0], x1 + r * rs[1], x2 + r * rs[2], x3 + r * rs[3], len,
                            &a0, &a1, &a2, &a3);
        }
        eq_mve_store4(a0, a1, a2, a3, rq, mult, shift, c, zp, lo, hi, offs, store, out);
    }
}

/* Pixel j (0..3) of a group into the interleaved layout of eq_mve_pixels4_inter: per 16-byte chunk i of the window,
 * xi[(4 i + j) * 16 ..] = x[16 i ..], the last chunk zero padded (predicated load). */
static inline void eq_mve_interleave(int8_t *xi, int32_t j, const int8_t *x, int32_t K)
{
    for (xi += 16 * j; K > 0; K -= 16, x += 16, xi += 64) {
        vstrbq_s8(xi, vldrbq_z_s8(x, vctp8q((uint32_t)K)));
    }
}

/* n (1..4) consecutive output pixels, every output channel, windows of K > 16 bytes interleaved in xi (4 x K
 * rounded up to 16 bytes): one x pointer walks all four pixels, so the per-channel loop keeps its accumulators,
 * pointers and count in registers (the four-pointer loop of eq_mve_pixels4 spills them: ~99 instructions per channel
 * and group on KWS's 64->64 1x1, ~64 here). The weights' last partial chunk is a predicated load (zero lanes meet
 * xi's zero padding). */
static __attribute__((noinline)) void eq_mve_pixels4_inter(const eq_cv *p, const int8_t *xi, int32_t K, int32_t n, int8_t *restrict out)
{
    const int32_t out_c = p->out_c, zp = p->out_offset, chunks = K >> 4, tail = K & 15;
    const int32_t *const bias = p->bias_eff, *const rq = p->rq, *const mult = p->mult, *const shift = p->shift;
    const int32_t pc = p->per_channel;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const mve_pred16_t store = vctp32q((uint32_t)n), ptail = vctp8q((uint32_t)tail);
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)out_c);
    const int8_t *const xt = xi + 64 * chunks;
    const int8_t *w = p->filter;
    int32_t c;
    for (c = 0; c < out_c; ++c) {
        int32_t a0 = bias[c], a1 = a0, a2 = a0, a3 = a0;
        int32x4_t v;
        if (chunks > 0) {
#if defined(__OPTIMIZE__) /* the asm needs more registers than an unoptimized build has free */
            const int8_t *x = xi;
            __asm__ volatile("dls lr, %[n]\n\t"
                             "1:\n\t"
                             "vldrb.8 q0, [%[w]], #16\n\t"
                             "vldrb.8 q1, [%[x]], #16\n\t"
                             "vmladava.s8 %[a0], q1, q0\n\t"
                             "vldrb.8 q2, [%[x]], #16\n\t"
                             "vmladava.s8 %[a1], q2, q0\n\t"
                             "vldrb.8 q3, [%[x]], #16\n\t"
                             "vmladava.s8 %[a2], q3, q0\n\t"
                             "vldrb.8 q1, [%[x]], #16\n\t"
                             "vmladava.s8 %[a3], q1, q0\n\t"
                             "le lr, 1b"
                             : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3), [w] "+r"(w), [x] "+r"(x)
                             : [n] "r"(chunks)
                             : "q0", "q1", "q2", "q3", "lr", "memory");
#else
            const int8_t *x = xi;
            int32_t i;
            for (i = 0; i < chunks; ++i, w += 16, x += 64) {
                const int8x16_t wv = vldrbq_s8(w);
                a0 = vmladavaq_s8(a0, vldrbq_s8(x), wv);
                a1 = vmladavaq_s8(a1, vldrbq_s8(x + 16), wv);
                a2 = vmladavaq_s8(a2, vldrbq_s8(x + 32), wv);
                a3 = vmladavaq_s8(a3, vldrbq_s8(x + 48), wv);
            }
#endif
        }
        if (tail) {
            const int8x16_t wv = vldrbq_z_s8(w, ptail);
            a0 = vmladavaq_s8(a0, vldrbq_s8(xt), wv);
            a1 = vmladavaq_s8(a1, vldrbq_s8(xt + 16), wv);
            a2 = vmladavaq_s8(a2, vldrbq_s8(xt + 32), wv);
            a3 = vmladavaq_s8(a3, vldrbq_s8(xt + 48), wv);
            w += tail;
        }
        v = vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vdupq_n_s32(a0), 1), 2), 3);
        if (rq) {
            v = vrshlq_n_s32(vaddq_s32(vqrdmulhq_n_s32(v, rq[3 * c]), vshrq_n_s32(v, 31)), -rq[3 * c + 2]);
        } else {
            const int32_t q = pc ? c : 0;
            v = eq_mve_mbqm(v, mult[q], shift[q]);
        }
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zp), lo), hi);
        vstrbq_scatter_offset_p_s32(out + c, offs, v, store);
    }
}

#ifndef EQ_MVE_INTER_GATHER_MAX
#define EQ_MVE_INTER_GATHER_MAX 160
#endif
/* Groups of four output pixels in flattened order (across rows and batches). 1x1 without padding reads the
 * input in place; small windows are gathered into im2col columns (one contiguous run per pixel); larger ones
 * read their k_h rows in place and gather only windows clipped by the border. Returns 0 when a window is too
 * large for the scratch and would need gathering (the caller then takes the DSP path). */
/* Largest window of the interleaved path: four of them are its stack scratch (2304 bytes; IC's 3x3x64 layer, K = 576,
 * 0.65 -> ~1 MAC per instruction there against the row-by-row path). */
#define EQ_MVE_INTER_MAX_K 576

/* Whether a CONV_2D takes the interleaved path: windows longer than a vector and at most EQ_MVE_INTER_MAX_K bytes;
 * 1x1 read in place, windows whose rows are whole vectors interleaved straight from the image, others copied first
 * only up to EQ_MVE_INTER_GATHER_MAX bytes: measured (M55 instructions), the extra copy costs more than the loop
 * saves beyond (K = 288: +1.7 %; K = 27..144: -1..-9 %). */
static int eq_mve_inter_ok(const eq_cv *p)
{
    const int32_t K = p->k_h * p->k_w * p->in_c, row_len = p->k_w * p->in_c;
    const int one = p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0;
    return K > 16 && K <= EQ_MVE_INTER_MAX_K && (one || K <= EQ_MVE_INTER_GATHER_MAX || (row_len & 15) == 0);
}

/* The interleaved Helium path (eq_mve_inter_ok): groups of four pixels in flattened
 * order, each window (in place for 1x1, else gathered: one predicated copy per row inside the image) interleaved in
 * col, then eq_mve_pixels4_inter. A function of its own: inlined, GCC's register allocation of the other paths of
 * eq_conv_mve shifted by a few percent with every change here. */
static __attribute__((noinline)) void eq_conv_mve_inter(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int8_t col[4 * EQ_MVE_INTER_MAX_K] EDGEQ_ALIGNED(4);
    const int one = p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0;
    const int32_t K = p->k_h * p->k_w * p->in_c, row_len = p->k_w * p->in_c;
    const int32_t in_img = p->in_h * p->in_w * p->in_c;
    const size_t row_step = (size_t)p->dil_h * p->in_w * p->in_c;
    int32_t b = 0, oy = 0, ox = 0, left = p->batches * p->out_h * p->out_w;
    int8_t tmp[EQ_MVE_INTER_MAX_K] EDGEQ_ALIGNED(4); /* one gathered window */
    while (left > 0) {
        int32_t n = 0;
        const int8_t *last = NULL;
        while (n < 4 && n < left) {
            const int8_t *x = tmp;
            const int8_t *in_b = in + (size_t)b * in_img;
            const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
            if (one) {
                x = in_b + ((size_t)iy0 * p->in_w + ix0) * p->in_c;
            } else if ((row_len & 15) == 0 && p->dil_w == 1 && iy0 >= 0 && ix0 >= 0 && ix0 + p->k_w <= p->in_w &&
                       iy0 + p->dil_h * (p->k_h - 1) < p->in_h) {
                /* inside the image, rows of whole vectors (3x3 on 16k channels): interleaved straight from the rows,
                 * no gather copy */
                const int8_t *src = in_b + ((size_t)iy0 * p->in_w + ix0) * p->in_c;
                int8_t *d = col + 16 * n;
                last = src; /* K bytes from here stay inside the image: its rows are row_step >= row_len apart */
                for (int32_t ky = 0; ky < p->k_h; ++ky, src += row_step) {
                    for (int32_t i = 0; i < row_len; i += 16, d += 64) {
                        vstrbq_s8(d, vldrbq_s8(src + i));
                    }
                }
                x = NULL;
            } else if (p->dil_w == 1 && iy0 >= 0 && ix0 >= 0 && ix0 + p->k_w <= p->in_w &&
                       iy0 + p->dil_h * (p->k_h - 1) < p->in_h) {
                /* inside the image: one predicated copy per row, no per-tap bounds checks (VWW's first layer:
                 * the generic gather was ~60 % of the layer's instructions) */
                const int8_t *src = in_b + ((size_t)iy0 * p->in_w + ix0) * p->in_c;
                int8_t *d = tmp;
                for (int32_t ky = 0; ky < p->k_h; ++ky, src += row_step, d += row_len) {
                    eq_mve_copy(d, src, row_len);
                }
            } else {
                eq_mve_im2col(p, in_b, iy0, ix0, tmp);
            }
            if (x) {
                eq_mve_interleave(col, n, x, K);
                last = x;
            }
            ++n;
            if (++ox == p->out_w) {
                ox = 0;
                if (++oy == p->out_h) {
                    oy = 0;
                    ++b;
                }
            }
        }
        for (int32_t j = n; j < 4; ++j) { /* lanes computed and not stored: any defined bytes (the last window) */
            eq_mve_interleave(col, j, last, K);
        }
        eq_mve_pixels4_inter(p, col, K, n, out);
        out += (size_t)n * p->out_c;
        left -= n;
    }
}

static int eq_conv_mve(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int8_t col[EDGEQ_CONV_SCRATCH_BYTES] EDGEQ_ALIGNED(4);
    const int32_t K = p->k_h * p->k_w * p->in_c, row_len = p->k_w * p->in_c;
    const int32_t in_img = p->in_h * p->in_w * p->in_c;
    const int one = p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0;
    const int32_t fit = EDGEQ_CONV_SCRATCH_BYTES / K, slots = fit > 4 ? 4 : fit; /* im2col columns that fit */
    const int gather_all = !one && slots == 4;
    const int32_t rows = (one || gather_all) ? 1 : p->k_h, len = (one || gather_all) ? K : row_len;
    const size_t row_step = (size_t)p->dil_h * p->in_w * p->in_c;
    int32_t b = 0, oy = 0, ox = 0, left = p->batches * p->out_h * p->out_w;
    if (!one && !gather_all && (slots == 0 || p->dil_w != 1)) {
        return 0;
    }
    while (left > 0) {
        const int8_t *x[4];
        int32_t rs[4] = {0, 0, 0, 0}, n = 0, used = 0;
        while (n < 4 && n < left) {
            const int8_t *in_b = in + (size_t)b * in_img;
            const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
            if (one) {
                x[n] = in_b + ((size_t)iy0 * p->in_w + ix0) * p->in_c;
            } else if (gather_all) {
                eq_mve_im2col(p, in_b, iy0, ix0, col + n * K);
                x[n] = col + n * K;
            } else if (iy0 >= 0 && ix0 >= 0 && iy0 + p->dil_h * (p->k_h - 1) < p->in_h && ix0 + p->k_w <= p->in_w) {
                x[n] = in_b + ((size_t)iy0 * p->in_w + ix0) * p->in_c;
                rs[n] = (int32_t)row_step;
            } else if (used < slots) {
                eq_mve_im2col(p, in_b, iy0, ix0, col + used * K);
                x[n] = col + used * K;
                rs[n] = row_len;
                ++used;
            } else {
                break; /* no scratch left for another clipped window: this pixel starts the next group */
            }
            ++n;
            if (++ox == p->out_w) {
                ox = 0;
                if (++oy == p->out_h) {
                    oy = 0;
                    ++b;
                }
            }
        }
        for (int32_t j = n; j < 4; ++j) {
            x[j] = x[0];
            rs[j] = rs[0];
        }
        eq_mve_pixels4(p, x, rs, rows, len, n, out);
        out += (size_t)n * p->out_c;
        left -= n;
    }
    return 1;
}

int edgeq_conv2d_mve(const edgeq_conv2d_params *p, const int8_t *in, int8_t *out)
{
    if (eq_mve_inter_ok(p)) { /* (not from inside eq_conv_mve: its scratch would stay on the stack) */
        eq_conv_mve_inter(p, in, out);
        return 1;
    }
    return eq_conv_mve(p, in, out);
}

#else
typedef int edgeq_conv_mve_unused; /* ISO C: a translation unit is not empty */
#endif
