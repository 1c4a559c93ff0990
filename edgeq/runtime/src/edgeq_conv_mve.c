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
        } else if (p->dil_w == 1) { /* clipped row: the taps inside the image are one run between two fills */
            const int32_t lo = ix0 < 0 ? -ix0 : 0, hi = ix0 + p->k_w > p->in_w ? p->in_w - ix0 : p->k_w;
            if (hi <= lo) {
                eq_mve_fill(col, pad, row_len);
            } else {
                eq_mve_fill(col, pad, lo * p->in_c);
                eq_mve_copy(col + lo * p->in_c, in_b + ((size_t)iy * p->in_w + ix0 + lo) * p->in_c,
                            (hi - lo) * p->in_c);
                eq_mve_fill(col + hi * p->in_c, pad, (p->k_w - hi) * p->in_c);
            }
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
#if defined(EDGEQ_ASM_REGS) /* the asm needs more registers than an unoptimized build has free */
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

#if defined(EDGEQ_ASM_REGS) && !defined(__OPTIMIZE_SIZE__) /* ten general registers */
/* Channels 0..nc-1 of four pixels whose windows (K <= 16 bytes, zero lanes past K) sit in x0..x3, for rq layers
 * with act_max == 127: per channel one 16-byte weight load, four VMLADAVs, the bias as a vector add, eq_rq_fast on
 * four lanes (as eq_mve_pairs3_rq), the lower clamp and int8 saturation as a saturating shift up and back, one
 * scatter store (27 instructions; GCC's loop took ~34 and spilled). Reads 16 bytes of weights per channel: the
 * caller keeps the last channel, whose bytes past K may end the filter. */
static inline void eq_mve_short4_rq(const int8_t *w, int32_t K, const int32_t *bias, const int32_t *rq, int8_t *out,
                                    int32_t nc, int8x16_t x0, int8x16_t x1, int8x16_t x2, int8x16_t x3,
                                    uint32x4_t offs, int32x4_t lo)
{
    int32_t a0, a1, a2, a3;
    __asm__ volatile("dls lr, %[nc]\n\t"
                     "1:\n\t"
                     "vldrb.8 q0, [%[w]]\n\t"
                     "add %[w], %[K]\n\t"
                     "vmladav.s8 %[a0], %q[x0], q0\n\t"
                     "vmladav.s8 %[a1], %q[x1], q0\n\t"
                     "vmladav.s8 %[a2], %q[x2], q0\n\t"
                     "vmladav.s8 %[a3], %q[x3], q0\n\t"
                     "vdup.32 q1, %[a3]\n\t"
                     "vmov.32 d2[0], %[a0]\n\t"
                     "ldr %[a3], [%[b]], #4\n\t"
                     "vmov.32 d2[1], %[a1]\n\t"
                     "vmov.32 d3[0], %[a2]\n\t"
                     "ldrd %[a0], %[a1], [%[rq]]\n\t"
                     "vadd.i32 q1, q1, %[a3]\n\t"
                     "ldr %[a2], [%[rq], #8]\n\t"
                     "vshr.s32 q0, q1, #31\n\t"
                     "vqrdmulh.s32 q1, q1, %[a0]\n\t"
                     "rsb %[a2], %[a2], #0\n\t"
                     "vadd.i32 q1, q1, q0\n\t"
                     "adds %[rq], #12\n\t"
                     "vadd.i32 q1, q1, %[a1]\n\t"
                     "vshl.s32 q1, %[a2]\n\t"
                     "vmax.s32 q1, q1, %q[lo]\n\t"
                     "vqshl.s32 q1, q1, #24\n\t"
                     "vshr.s32 q1, q1, #24\n\t"
                     "vstrb.32 q1, [%[out], %q[offs]]\n\t"
                     "adds %[out], #1\n\t"
                     "le lr, 1b"
                     : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [w] "+r"(w),
                       [b] "+r"(bias), [rq] "+r"(rq), [out] "+r"(out)
                     : [K] "r"(K), [nc] "r"(nc), [x0] "w"(x0), [x1] "w"(x1), [x2] "w"(x2), [x3] "w"(x3),
                       [offs] "w"(offs), [lo] "w"(lo)
                     : "q0", "q1", "lr", "cc", "memory");
}
#define EQ_MVE_SHORT4_RQ 1
#endif

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

/* Pixel j (0..2) of a group into the interleaved layout of eq_mve_pixels3_inter: per 16-byte chunk i of the window,
 * xi[(3 i + j) * 16 ..] = x[16 i ..]; the last partial chunk is a zeroing predicated load (ptail, K & 15 lanes). */
static inline void eq_mve_interleave3(int8_t *xi, int32_t j, const int8_t *x, int32_t K, mve_pred16_t ptail)
{
    int32_t i;
    xi += 16 * j;
    for (i = K >> 4; i > 0; --i, x += 16, xi += 48) {
        vstrbq_s8(xi, vldrbq_s8(x));
    }
    if (K & 15) {
        vstrbq_s8(xi, vldrbq_z_s8(x, ptail));
    }
}

/* acc[j] += w0 . x_j and acc[3 + j] += w1 . x_j for the three interleaved pixels over `chunks` 16-byte chunks of xi:
 * per chunk two weight vectors and three pixel vectors feed six VMLADAVAs (12 instructions per 96 MACs against 10
 * per 64 with one channel). The weight pointers advance past the chunks. */
#if defined(EDGEQ_ASM_REGS) && !defined(__OPTIMIZE_SIZE__) /* six even accumulators, three pointers and lr */
#define EQ_MVE_DOT3X2(w0, w1, xi, chunks, a0, a1, a2, a3, a4, a5)                                                   \
    do {                                                                                                       \
        const int8_t *x_ = (xi);                                                                               \
        __asm__ volatile("dls lr, %[n]\n\t"                                                                    \
                         "1:\n\t"                                                                              \
                         "vldrb.8 q0, [%[w0]], #16\n\t"                                                        \
                         "vldrb.8 q2, [%[x]], #16\n\t"                                                         \
                         "vldrb.8 q1, [%[w1]], #16\n\t"                                                        \
                         "vmladava.s8 %[a0], q2, q0\n\t"                                                       \
                         "vldrb.8 q3, [%[x]], #16\n\t"                                                         \
                         "vmladava.s8 %[a3], q2, q1\n\t"                                                       \
                         "vmladava.s8 %[a1], q3, q0\n\t"                                                       \
                         "vldrb.8 q2, [%[x]], #16\n\t"                                                         \
                         "vmladava.s8 %[a4], q3, q1\n\t"                                                       \
                         "vmladava.s8 %[a2], q2, q0\n\t"                                                       \
                         "vmladava.s8 %[a5], q2, q1\n\t"                                                       \
                         "le lr, 1b"                                                                           \
                         : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3), [a4] "+Te"(a4),     \
                           [a5] "+Te"(a5), [w0] "+r"(w0), [w1] "+r"(w1), [x] "+r"(x_)                          \
                         : [n] "r"(chunks)                                                                     \
                         : "q0", "q1", "q2", "q3", "lr", "memory");                                            \
    } while (0)
#else
#define EQ_MVE_DOT3X2(w0, w1, xi, chunks, a0, a1, a2, a3, a4, a5)                                                   \
    do {                                                                                                       \
        const int8_t *x_ = (xi);                                                                               \
        for (int32_t i_ = 0; i_ < (chunks); ++i_, w0 += 16, w1 += 16, x_ += 48) {                              \
            const int8x16_t u_ = vldrbq_s8(w0), v_ = vldrbq_s8(w1);                                            \
            const int8x16_t x0_ = vldrbq_s8(x_), x1_ = vldrbq_s8(x_ + 16), x2_ = vldrbq_s8(x_ + 32);           \
            a0 = vmladavaq_s8(a0, x0_, u_);                                                                    \
            a1 = vmladavaq_s8(a1, x1_, u_);                                                                    \
            a2 = vmladavaq_s8(a2, x2_, u_);                                                                    \
            a3 = vmladavaq_s8(a3, x0_, v_);                                                                    \
            a4 = vmladavaq_s8(a4, x1_, v_);                                                                    \
            a5 = vmladavaq_s8(a5, x2_, v_);                                                                    \
        }                                                                                                      \
    } while (0)
#endif

/* Lanes {a, b, c, c}: a VDUP and two lane moves. (Not the dual-lane VMOV of two general registers: GNU as and
 * QEMU read its operand order differently.) */
static inline int32x4_t eq_mve_lanes3(int32_t a, int32_t b, int32_t c)
{
    return vsetq_lane_s32(b, vsetq_lane_s32(a, vdupq_n_s32(c), 0), 1);
}

/* Output channel c of the group's pixels (lanes 0..2; lane 3 repeats lane 2, as offs repeats its address):
 * requantized (rq's short form, or mult/shift), zero point, clamp, scattered. */
static inline void eq_mve_out3(int32x4_t v, const int32_t *rq, const int32_t *mult, const int32_t *shift,
                               int32_t q, int32_t zp, int32x4_t lo, int32x4_t hi, uint32x4_t offs, int8_t *out)
{
    if (rq) {
        v = vrshlq_n_s32(vaddq_s32(vqrdmulhq_n_s32(v, rq[0]), vshrq_n_s32(v, 31)), -rq[2]);
    } else {
        v = eq_mve_mbqm(v, mult[q], shift[q]);
    }
    v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zp), lo), hi);
    vstrbq_scatter_offset_s32(out, offs, v);
}

#if defined(EDGEQ_ASM_REGS) && !defined(__OPTIMIZE_SIZE__) /* eleven general registers (r7 may be the frame pointer) */
/* The pair loop of eq_mve_pixels3_inter for rq layers, from output channel 0 to the pair ending at `out_end` in
 * k = {xi, chunks per pass, 2 K - 16 chunks, out_end}: bias pair and accumulators, EQ_MVE_DOT3X2's loop, then
 * per channel the lanes {a0, a1, a2, a2}, eq_rq_fast on four lanes (VQRDMULH is SRDHM; plus acc >> 31 and rq[1],
 * the rounding constant with the zero point folded, then the arithmetic shift by e: the scalar formula, whose range
 * the generator checked), the clamp and the scatter store; the bias and output pointers live in memory (eleven general
 * registers: six accumulators, four pointers and lr; frame-pointer builds leave no more). Written out: GCC's loop spilled its pointers, ~75
 * instructions around each pass against ~40 here. */
static inline void eq_mve_pairs3_rq(const int8_t *w0, const int8_t *w1, const int32_t *bias, const int32_t *rq,
                                    int8_t *out, int32x4_t k, int32x4_t lo, int32x4_t hi, uint32x4_t offs)
{
    int32_t a0, a1, a2, a3, a4, a5;
    const int8_t *x;
    __asm__ volatile("1:\n\t"
                     "ldr %[a1], %[b]\n\t"
                     "vmov.32 %[x], %e[k][0]\n\t"
                     "ldrd %[a0], %[a3], [%[a1]], #8\n\t"
                     "str %[a1], %[b]\n\t"
                     "mov %[a1], %[a0]\n\t"
                     "vmov.32 lr, %e[k][1]\n\t"
                     "mov %[a2], %[a0]\n\t"
                     "mov %[a4], %[a3]\n\t"
                     "mov %[a5], %[a3]\n\t"
                     "dls lr, lr\n\t"
                     "2:\n\t"
                     "vldrb.8 q0, [%[w0]], #16\n\t"
                     "vldrb.8 q2, [%[x]], #16\n\t"
                     "vldrb.8 q1, [%[w1]], #16\n\t"
                     "vmladava.s8 %[a0], q2, q0\n\t"
                     "vldrb.8 q3, [%[x]], #16\n\t"
                     "vmladava.s8 %[a3], q2, q1\n\t"
                     "vmladava.s8 %[a1], q3, q0\n\t"
                     "vldrb.8 q2, [%[x]], #16\n\t"
                     "vmladava.s8 %[a4], q3, q1\n\t"
                     "vmladava.s8 %[a2], q2, q0\n\t"
                     "vmladava.s8 %[a5], q2, q1\n\t"
                     "le lr, 2b\n\t"
                     "vdup.32 q0, %[a2]\n\t"
                     "vmov.32 d0[0], %[a0]\n\t"
                     "vmov.32 d0[1], %[a1]\n\t"
                     "vdup.32 q1, %[a5]\n\t"
                     "vmov.32 d2[0], %[a3]\n\t"
                     "vmov.32 d2[1], %[a4]\n\t"
                     "ldrd %[a0], %[a1], [%[rq]]\n\t"
                     "ldr %[a2], [%[rq], #8]\n\t"
                     "ldrd %[a3], %[a4], [%[rq], #12]\n\t"
                     "ldr %[a5], [%[rq], #20]\n\t"
                     "rsb %[a2], %[a2], #0\n\t"
                     "vqrdmulh.s32 q2, q0, %[a0]\n\t"
                     "vshr.s32 q0, q0, #31\n\t"
                     "rsb %[a5], %[a5], #0\n\t"
                     "vadd.i32 q0, q0, q2\n\t"
                     "vqrdmulh.s32 q3, q1, %[a3]\n\t"
                     "vadd.i32 q0, q0, %[a1]\n\t"
                     "vshr.s32 q1, q1, #31\n\t"
                     "vshl.s32 q0, %[a2]\n\t"
                     "vadd.i32 q1, q1, q3\n\t"
                     "vmax.s32 q0, q0, %q[lo]\n\t"
                     "vadd.i32 q1, q1, %[a4]\n\t"
                     "vmin.s32 q0, q0, %q[hi]\n\t"
                     "vshl.s32 q1, %[a5]\n\t"
                     "ldr %[a3], %[out]\n\t"
                     "vmax.s32 q1, q1, %q[lo]\n\t"
                     "vstrb.32 q0, [%[a3], %q[offs]]\n\t"
                     "vmin.s32 q1, q1, %q[hi]\n\t"
                     "adds %[a3], #1\n\t"
                     "vmov.32 %[a0], %f[k][0]\n\t"
                     "vstrb.32 q1, [%[a3], %q[offs]]\n\t"
                     "adds %[a3], #1\n\t"
                     "add %[w0], %[a0]\n\t"
                     "vmov.32 %[a1], %f[k][1]\n\t"
                     "add %[w1], %[a0]\n\t"
                     "str %[a3], %[out]\n\t"
                     "adds %[rq], #24\n\t"
                     "cmp %[a3], %[a1]\n\t"
                     "bne 1b"
                     : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [a4] "=&Te"(a4),
                       [a5] "=&Te"(a5), [x] "=&r"(x), [w0] "+r"(w0), [w1] "+r"(w1), [b] "+m"(bias), [rq] "+r"(rq),
                       [out] "+m"(out)
                     : [k] "w"(k), [lo] "w"(lo), [hi] "w"(hi), [offs] "w"(offs)
                     : "q0", "q1", "q2", "q3", "lr", "cc", "memory");
}
#define EQ_MVE_PAIRS3_RQ 1
#endif

/* n (1..3) consecutive output pixels, every output channel, windows of K > 16 bytes interleaved in xi (3 x K
 * rounded up to 16 bytes, zero past K; pixels n..2 repeat pixel n - 1, whose output bytes they store again): two
 * channels per pass over the pixels' data (EQ_MVE_DOT3X2). A partial last chunk runs as a whole one (the weight
 * bytes past the channel, the next channel's, meet xi's zeros), except for the last pair, whose weights end there:
 * predicated loads. An odd last channel is a pair with itself. rq layers run their pairs up to the last in
 * eq_mve_pairs3_rq where it is built. */
static __attribute__((noinline)) void eq_mve_pixels3_inter(const eq_cv *p, const int8_t *xi, int32_t K, int32_t n,
                                                          int8_t *restrict out)
{
    const int32_t out_c = p->out_c, zp = p->out_offset, chunks = K >> 4, tail = K & 15;
    const int32_t steps = (K + 15) >> 4, back = 16 * steps - K; /* the last pair's weights past K: back bytes */
    const int32_t *bias = p->bias_eff, *rq = p->rq;
    const int32_t *const mult = p->mult, *const shift = p->shift;
    const int32_t pc = p->per_channel;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const uint32x4_t offs = vmulq_n_u32(vminq_u32(vidupq_n_u32(0, 1), vdupq_n_u32((uint32_t)(n - 1))),
                                        (uint32_t)out_c);
    const int8_t *w0 = p->filter;
    int32_t c = 0;
#ifdef EQ_MVE_PAIRS3_RQ
    const int32_t fast = rq ? (tail ? (out_c - 1) >> 1 : out_c >> 1) : 0; /* pairs run without the C tail */
    if (fast > 0) {
        int32x4_t k = vdupq_n_s32(2 * K - 16 * steps);
        k = vsetq_lane_s32((int32_t)(intptr_t)xi, k, 0);
        k = vsetq_lane_s32(steps, k, 1);
        k = vsetq_lane_s32((int32_t)(intptr_t)(out + 2 * fast), k, 3);
        eq_mve_pairs3_rq(w0, w0 + K, bias, rq, out, k, lo, hi, offs);
        c = 2 * fast;
        w0 += (size_t)c * K;
        bias += c;
        rq += 3 * c;
        out += c;
    }
#endif
    for (; c < out_c; c += 2, out += 2) {
        const int end = c + 2 >= out_c, odd = c + 1 == out_c;
        const int8_t *w1 = odd ? w0 : w0 + K;
        int32_t a0 = bias[0], a1 = a0, a2 = a0, a3 = bias[odd ? 0 : 1], a4 = a3, a5 = a3;
        if (!end || !tail) {
            EQ_MVE_DOT3X2(w0, w1, xi, steps, a0, a1, a2, a3, a4, a5);
            w1 -= back;
        } else {
            const mve_pred16_t pt = vctp8q((uint32_t)tail);
            const int8_t *const xt = xi + 48 * chunks;
            if (chunks > 0) {
                EQ_MVE_DOT3X2(w0, w1, xi, chunks, a0, a1, a2, a3, a4, a5);
            }
            const int8x16_t u = vldrbq_z_s8(w0, pt), v = vldrbq_z_s8(w1, pt);
            const int8x16_t x0 = vldrbq_s8(xt), x1 = vldrbq_s8(xt + 16), x2 = vldrbq_s8(xt + 32);
            a0 = vmladavaq_s8(a0, x0, u);
            a1 = vmladavaq_s8(a1, x1, u);
            a2 = vmladavaq_s8(a2, x2, u);
            a3 = vmladavaq_s8(a3, x0, v);
            a4 = vmladavaq_s8(a4, x1, v);
            a5 = vmladavaq_s8(a5, x2, v);
        }
        eq_mve_out3(eq_mve_lanes3(a0, a1, a2), rq, mult, shift, pc ? c : 0, zp, lo, hi, offs, out);
        if (odd) {
            break;
        }
        eq_mve_out3(eq_mve_lanes3(a3, a4, a5), rq ? rq + 3 : rq, mult, shift, pc ? c + 1 : 0, zp, lo, hi, offs,
                    out + 1);
        w0 = w1;
        bias += 2;
        if (rq) {
            rq += 6;
        }
    }
}

#ifndef EQ_MVE_INTER_GATHER_MAX
#define EQ_MVE_INTER_GATHER_MAX 160
#endif
/* Largest window of the interleaved path (IC's 3x3x64 layer, K = 576). Its stack scratch is EDGEQ_CONV_MVE_BYTES:
 * three interleaved windows (3 x K rounded up to 16) plus one gathered window and 16 bytes of slack
 * (4 x 576 + 16 = 2320 bytes). */
#define EQ_MVE_INTER_MAX_K 576
#ifndef EDGEQ_CONV_MVE_BYTES
#define EDGEQ_CONV_MVE_BYTES (4 * EQ_MVE_INTER_MAX_K + 16)
#endif

/* Whether a CONV_2D takes the interleaved path: windows longer than a vector whose three interleaved copies and
 * one gathered copy fit EDGEQ_CONV_MVE_BYTES; 1x1 read in place, windows whose rows are whole vectors interleaved
 * straight from the image, others copied first only up to EQ_MVE_INTER_GATHER_MAX bytes: measured (M55
 * instructions), the extra copy costs more than the loop saves beyond (K = 288: +1.7 %; K = 27..144: -1..-9 %). */
static int eq_mve_inter_ok(const eq_cv *p)
{
    const int32_t K = p->k_h * p->k_w * p->in_c, row_len = p->k_w * p->in_c;
    const int one = p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0;
    return K > 16 && 3 * ((K + 15) & ~15) + K + 16 <= EDGEQ_CONV_MVE_BYTES &&
           (one || K <= EQ_MVE_INTER_GATHER_MAX || (row_len & 15) == 0);
}

/* The interleaved Helium path (eq_mve_inter_ok): groups of three pixels in flattened order, each window (in place
 * for 1x1; rows of whole vectors straight from the image; else gathered: one predicated copy per row inside the
 * image, eq_mve_im2col at the border) interleaved in col, then eq_mve_pixels3_inter. A function of its own: inlined,
 * GCC's register allocation of the other paths of eq_conv_mve shifted by a few percent with every change here. */
static __attribute__((noinline)) void eq_conv_mve_inter(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int8_t scratch[EDGEQ_CONV_MVE_BYTES] EDGEQ_ALIGNED(4);
    const int one = p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0;
    const int32_t k_h = p->k_h, k_w = p->k_w, in_c = p->in_c, in_w = p->in_w, in_h = p->in_h;
    const int32_t K = k_h * k_w * in_c, row_len = k_w * in_c;
    const int32_t kh_span = p->dil_h * (k_h - 1), out_w = p->out_w, out_h = p->out_h;
    const int32_t stride_w = p->stride_w, stride_h = p->stride_h, pad_w = p->pad_w, pad_h = p->pad_h;
    const size_t row_step = (size_t)p->dil_h * in_w * in_c, in_img = (size_t)in_h * in_w * in_c;
    const size_t step_x = (size_t)stride_w * in_c;
    const int direct = (row_len & 15) == 0 && p->dil_w == 1, copy_rows = p->dil_w == 1, short_rows = row_len <= 16;
    const mve_pred16_t ptail = vctp8q((uint32_t)(K & 15)), prow = vctp8q((uint32_t)row_len);
    int8_t *const col = scratch, *const tmp = scratch + 3 * ((K + 15) & ~15); /* tmp: one window + 16 bytes */
    /* the output pixel's window walked incrementally: top-left tap (iy0, ix0) at offset so from in_b (an address
     * only where the window is inside the image), rows_in: the output row's windows are inside vertically */
    const int8_t *in_b = in;
    int32_t ox = 0, oy = 0, iy0 = -pad_h, ix0 = -pad_w, left = p->batches * out_h * out_w;
    int rows_in = iy0 >= 0 && iy0 + kh_span < in_h;
    ptrdiff_t so = ((ptrdiff_t)iy0 * in_w + ix0) * in_c;
    while (left > 0) {
        int32_t n = 0;
        while (n < 3 && n < left) {
            const int8_t *x = tmp;
            const int inside = rows_in && ix0 >= 0 && ix0 + k_w <= in_w;
            if (one) {
                x = in_b + so;
            } else if (direct && inside) {
                /* rows of whole vectors (3x3 on 16k channels): interleaved straight from the rows, no copy */
                const int8_t *r = in_b + so;
                int8_t *d = col + 16 * n;
                for (int32_t ky = 0; ky < k_h; ++ky, r += row_step) {
                    for (int32_t i = 0; i < row_len; i += 16, d += 48) {
                        vstrbq_s8(d, vldrbq_s8(r + i));
                    }
                }
                x = NULL;
            } else if (copy_rows && inside) {
                /* one copy per row; rows of up to 16 bytes as one predicated load and a whole-vector store (tmp's
                 * slack takes the bytes past the row, the next row overwrites them) */
                const int8_t *r = in_b + so;
                int8_t *d = tmp;
                if (short_rows) {
                    for (int32_t ky = 0; ky < k_h; ++ky, r += row_step, d += row_len) {
                        vstrbq_s8(d, vldrbq_z_s8(r, prow));
                    }
                } else {
                    for (int32_t ky = 0; ky < k_h; ++ky, r += row_step, d += row_len) {
                        eq_mve_copy(d, r, row_len);
                    }
                }
            } else {
                eq_mve_im2col(p, in_b, iy0, ix0, tmp);
            }
            if (x) {
                eq_mve_interleave3(col, n, x, K, ptail);
            }
            ++n;
            so += (ptrdiff_t)step_x;
            ix0 += stride_w;
            if (++ox == out_w) {
                ox = 0;
                ix0 = -pad_w;
                iy0 += stride_h;
                if (++oy == out_h) {
                    oy = 0;
                    iy0 = -pad_h;
                    in_b += in_img;
                }
                rows_in = iy0 >= 0 && iy0 + kh_span < in_h;
                so = ((ptrdiff_t)iy0 * in_w + ix0) * in_c;
            }
        }
        for (int32_t j = n; j < 3; ++j) { /* pixel n - 1's window again: its lanes store that pixel's bytes again */
            for (int32_t i = 0; i < K; i += 16) {
                vstrbq_s8(col + 3 * i + 16 * j, vldrbq_s8(col + 3 * i + 16 * (n - 1)));
            }
        }
        eq_mve_pixels3_inter(p, col, K, n, out);
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

#ifdef EQ_MVE_SHORT4_RQ
/* 1x1 layers on at most 16 input channels with rq and act_max == 127 (VWW's 8->16 and 16->32): groups of four
 * pixels walked incrementally, their inputs loaded once into four vectors, every channel in eq_mve_short4_rq (the
 * last from a zero-padded 16-byte copy of its weights). */
static __attribute__((noinline)) void eq_conv_mve_short(const eq_cv *p, const int8_t *in, int8_t *restrict out)
{
    int8_t wl[16] EDGEQ_ALIGNED(4);
    const int32_t K = p->in_c, out_c = p->out_c, out_w = p->out_w, out_h = p->out_h;
    const mve_pred16_t pr = vctp8q((uint32_t)K);
    const int32x4_t lo = vdupq_n_s32(p->act_min);
    const uint32x4_t idx = vidupq_n_u32(0, 1), offs4 = vmulq_n_u32(idx, (uint32_t)out_c);
    const size_t step_x = (size_t)p->stride_w * K, step_row = (size_t)p->stride_h * p->in_w * K;
    const size_t img = (size_t)p->in_h * p->in_w * K;
    const int8_t *const w = p->filter, *const wlast = w + (size_t)(out_c - 1) * K;
    const int32_t *const bias = p->bias_eff, *const rq = p->rq;
    const int8_t *base = in, *row = in, *px = in;
    int32_t ox = 0, oy = 0, left = p->batches * out_h * out_w;
    vstrbq_s8(wl, vldrbq_z_s8(wlast, pr));
    while (left > 0) {
        const int32_t n = left < 4 ? left : 4;
        int8x16_t v[4];
        for (int32_t j = 0; j < 4; ++j) {
            if (j >= n) {
                v[j] = v[j - 1];
                continue;
            }
            v[j] = vldrbq_z_s8(px, pr);
            px += step_x;
            if (++ox == out_w) {
                ox = 0;
                row += step_row;
                if (++oy == out_h) {
                    oy = 0;
                    base += img;
                    row = base;
                }
                px = row;
            }
        }
        const uint32x4_t offs =
            n == 4 ? offs4 : vmulq_n_u32(vminq_u32(idx, vdupq_n_u32((uint32_t)(n - 1))), (uint32_t)out_c);
        if (out_c > 1) {
            eq_mve_short4_rq(w, K, bias, rq, out, out_c - 1, v[0], v[1], v[2], v[3], offs, lo);
        }
        eq_mve_short4_rq(wl, K, bias + out_c - 1, rq + 3 * (out_c - 1), out + out_c - 1, 1, v[0], v[1], v[2], v[3],
                         offs, lo);
        out += (size_t)n * out_c;
        left -= n;
    }
}
#endif

int edgeq_conv2d_mve(const edgeq_conv2d_params *p, const int8_t *in, int8_t *out)
{
#ifdef EQ_MVE_SHORT4_RQ
    if (p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0 && p->in_c <= 16 && p->rq &&
        p->act_max == 127) {
        eq_conv_mve_short(p, in, out);
        return 1;
    }
#endif
    if (eq_mve_inter_ok(p)) { /* (not from inside eq_conv_mve: its scratch would stay on the stack) */
        eq_conv_mve_inter(p, in, out);
        return 1;
    }
    return eq_conv_mve(p, in, out);
}

#else
typedef int edgeq_conv_mve_unused; /* ISO C: a translation unit is not empty */
#endif
