/* edgeq runtime: DEPTHWISE_CONV_2D (see edgeq_core.h for the contract). */
#include "edgeq_dsp.h"
#include "edgeq_mve.h"

#ifndef EDGEQ_OVERRIDE_DEPTHWISE_CONV2D_S8
#ifdef EDGEQ_DSP
/* One tap of four channels: SXTB16 splits the input word into channels {c, c+2} and {c+1, c+3}, which meet the
 * weight pairs dw_w laid out the same way by the generator (no weight extraction on the device). */
#define EQ_DW_TAP4(xe_, xo_, wp_)                                                                          \
    do {                                                                                                   \
        const int32_t we_ = (wp_)[0], wo_ = (wp_)[1];                                                      \
        a0 = eq_smlabb((xe_), we_, a0);                                                                    \
        a2 = eq_smlatt((xe_), we_, a2);                                                                    \
        a1 = eq_smlabb((xo_), wo_, a1);                                                                    \
        a3 = eq_smlatt((xo_), wo_, a3);                                                                    \
    } while (0)
#define EQ_DW_TAP4_LOAD(xp_, wp_)                                                                          \
    do {                                                                                                   \
        const int32_t xv_ = eq_load32(xp_);                                                                \
        EQ_DW_TAP4(eq_sxtb16(xv_), eq_sxtb16_ror8(xv_), (wp_));                                            \
    } while (0)

static inline void eq_dw_store4(const edgeq_conv_params *p, const int32_t *rq, int32_t a0, int32_t a1, int32_t a2,
                                int32_t a3, int8_t *restrict out)
{
    const int32_t zp = p->out_offset, lo = p->act_min, hi = p->act_max;
    out[0] = (int8_t)edgeq_clamp(eq_rq_fast(a0, rq) + zp, lo, hi);
    out[1] = (int8_t)edgeq_clamp(eq_rq_fast(a1, rq + 3) + zp, lo, hi);
    out[2] = (int8_t)edgeq_clamp(eq_rq_fast(a2, rq + 6) + zp, lo, hi);
    out[3] = (int8_t)edgeq_clamp(eq_rq_fast(a3, rq + 9) + zp, lo, hi);
}

#ifndef EDGEQ_MVE /* Helium has its own depthwise loops below */
/* 3x3 window fully inside the input (any stride/dilation), depth multiplier 1, rq and dw_w present: the nine
 * taps unrolled, the folded bias_eff, no bounds checks and no input offset. Channels in_c & ~3; taps xs bytes
 * apart within a row, ys bytes between rows. */
static void eq_dw_full3x3_m1(const edgeq_conv_params *p, const int8_t *x0, int32_t xs, int32_t ys,
                             int8_t *restrict out)
{
    const int32_t C4 = p->in_c & ~3;
    const int32_t *w = p->dw_w;
    const int32_t *rq = p->rq;
    const int32_t *be = p->bias_eff;
    int32_t c;
    for (c = 0; c < C4; c += 4, w += 18, rq += 12) {
        const int8_t *r = x0 + c;
        int32_t a0 = be[c], a1 = be[c + 1], a2 = be[c + 2], a3 = be[c + 3];
#if defined(EDGEQ_DSP_ASM)
        {
            /* The same nine taps as the C below, scheduled by hand: GCC spills and reloads the weight pairs
             * otherwise. Per tap: LDR, LDRD (post-increment), 2 SXTB16, 4 SMLAxy. */
            const int8_t *rp = r;
            const int32_t *wp = w;
            int32_t xv, xe, we, wo;
#define EQ_DW_ASM_TAP(addr)                                                                                \
    "ldr %[xv], " addr "\n\t"                                                                             \
    "ldrd %[we], %[wo], [%[wp]], #8\n\t"                                                                  \
    "sxtb16 %[xe], %[xv]\n\t"                                                                             \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                                                                     \
    "smlabb %[a0], %[xe], %[we], %[a0]\n\t"                                                               \
    "smlatt %[a2], %[xe], %[we], %[a2]\n\t"                                                               \
    "smlabb %[a1], %[xv], %[wo], %[a1]\n\t"                                                               \
    "smlatt %[a3], %[xv], %[wo], %[a3]\n\t"
#define EQ_DW_ASM_ROW                                                                                      \
    EQ_DW_ASM_TAP("[%[rp]]") EQ_DW_ASM_TAP("[%[rp], %[xs]]") EQ_DW_ASM_TAP("[%[rp], %[xs], lsl #1]")
            __asm__(EQ_DW_ASM_ROW "add %[rp], %[rp], %[ys]\n\t" EQ_DW_ASM_ROW "add %[rp], %[rp], %[ys]\n\t"
                    EQ_DW_ASM_ROW
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [rp] "+&r"(rp), [wp] "+&r"(wp),
                      [xv] "=&r"(xv), [xe] "=&r"(xe), [we] "=&r"(we), [wo] "=&r"(wo)
                    : [xs] "r"(xs), [ys] "r"(ys)
                    : "memory");
#undef EQ_DW_ASM_ROW
#undef EQ_DW_ASM_TAP
        }
#else
        EQ_DW_TAP4_LOAD(r, w);
        EQ_DW_TAP4_LOAD(r + xs, w + 2);
        EQ_DW_TAP4_LOAD(r + 2 * xs, w + 4);
        r += ys;
        EQ_DW_TAP4_LOAD(r, w + 6);
        EQ_DW_TAP4_LOAD(r + xs, w + 8);
        EQ_DW_TAP4_LOAD(r + 2 * xs, w + 10);
        r += ys;
        EQ_DW_TAP4_LOAD(r, w + 12);
        EQ_DW_TAP4_LOAD(r + xs, w + 14);
        EQ_DW_TAP4_LOAD(r + 2 * xs, w + 16);
#endif
        eq_dw_store4(p, rq, a0, a1, a2, a3, out + c);
    }
}

#ifndef EDGEQ_DW_WINDOW_BYTES
#define EDGEQ_DW_WINDOW_BYTES 1152 /* 3x3 x 128 channels of stack */
#endif
/* A 3x3 window clipped by the border: gather it into a 3x3 x (in_c & ~3) buffer, the taps outside the input set to
 * the input zero point. Those taps then add w * (zero_point + in_offset) == 0, exactly what TFLM's skipped taps add,
 * so the unrolled full-window kernel and bias_eff apply. */
static void eq_dw_clipped3x3_m1(const edgeq_conv_params *p, const int8_t *in_b, int32_t iy0, int32_t ix0,
                                int8_t *restrict out)
{
    int32_t win[EDGEQ_DW_WINDOW_BYTES / 4];
    const int32_t C = p->in_c, W4 = (p->in_c & ~3) >> 2;
    const uint32_t pad = 0x01010101u * (uint8_t)(int8_t)(-p->in_offset);
    int32_t *dst = win;
    int32_t ky, kx, i;
    for (ky = 0; ky < 3; ++ky) {
        const int32_t iy = iy0 + p->dil_h * ky;
        for (kx = 0; kx < 3; ++kx, dst += W4) {
            const int32_t ix = ix0 + p->dil_w * kx;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                for (i = 0; i < W4; ++i) {
                    dst[i] = (int32_t)pad;
                }
            } else {
                const int8_t *src = in_b + ((size_t)iy * p->in_w + ix) * C;
                for (i = 0; i < W4; ++i) {
                    dst[i] = eq_load32(src + 4 * i);
                }
            }
        }
    }
    eq_dw_full3x3_m1(p, (const int8_t *)win, 4 * W4, 12 * W4, out);
}
#endif /* !EDGEQ_MVE */

/* Any window (clipped by the border or not), depth multiplier 1, dw_w present: taps [ky0, ky1) x [kx0, kx1),
 * SXTAB16 adds in_offset while sign-extending, so the raw bias applies (TFLM skips the taps outside). Returns
 * the number of channels done (in_c & ~3). */
static int32_t eq_dw_window4_m1(const edgeq_conv_params *p, const int8_t *x_base, int32_t ky0, int32_t ky1,
                                int32_t kx0, int32_t kx1, int8_t *restrict out)
{
    const int32_t C4 = p->in_c & ~3;
    const int32_t off2 = eq_dup16(p->in_offset);
    const int32_t xs = p->dil_w * p->in_c;
    const int32_t ys = p->dil_h * p->in_w * p->in_c;
    const int32_t n_ky = ky1 - ky0, n_kx = kx1 - kx0;
    const int32_t taps2 = 2 * p->k_h * p->k_w;
    const int32_t *wg = p->dw_w + 2 * (ky0 * p->k_w + kx0);
    int32_t c, ky, kx;
    for (c = 0; c < C4; c += 4, wg += taps2) {
        const int8_t *xr = x_base + c;
        const int32_t *wr = wg;
        int32_t a0 = p->bias[c], a1 = p->bias[c + 1], a2 = p->bias[c + 2], a3 = p->bias[c + 3];
        for (ky = 0; ky < n_ky; ++ky, xr += ys, wr += 2 * p->k_w) {
            const int8_t *xp = xr;
            const int32_t *wp = wr;
            for (kx = 0; kx < n_kx; ++kx, xp += xs, wp += 2) {
                const int32_t xv = eq_load32(xp);
                EQ_DW_TAP4(eq_sxtab16(off2, xv), eq_sxtab16_ror8(off2, xv), wp);
            }
        }
        out[c] = eq_requant(a0, p, c);
        out[c + 1] = eq_requant(a1, p, c + 1);
        out[c + 2] = eq_requant(a2, p, c + 2);
        out[c + 3] = eq_requant(a3, p, c + 3);
    }
    return C4;
}
#endif

/* Depth multiplier 1: four channels at a time, taps inner, so the accumulators stay in registers and
 * every load brings four channels. Channels from c_start on. */
static void eq_dw_pixel_m1(const edgeq_conv_params *p, const int8_t *in_b, int32_t iy0, int32_t ix0, int32_t ky0,
                           int32_t ky1, int32_t kx0, int32_t kx1, int32_t c_start, int8_t *restrict out)
{
    const int32_t C = p->in_c;
    const int32_t full = ky0 == 0 && ky1 == p->k_h && kx0 == 0 && kx1 == p->k_w;
    int32_t c = c_start, ky, kx, j;
#ifdef EDGEQ_DSP
    /* SXTAB16 adds in_offset while sign-extending, so clipped border windows need no correction. */
    const int32_t off2 = eq_dup16(p->in_offset);
    const size_t xstep = (size_t)p->dil_w * C;
    const size_t xrow_step = (size_t)p->dil_h * p->in_w * C;
    const size_t wrow_step = (size_t)p->k_w * C;
    const int32_t n_ky = ky1 - ky0, n_kx = kx1 - kx0;
    const int8_t *x_base = in_b + ((size_t)(iy0 + p->dil_h * ky0) * p->in_w + ix0 + p->dil_w * kx0) * C;
    const int8_t *w_base = p->filter + ((size_t)ky0 * p->k_w + kx0) * C;
    if (p->dw_w && c == 0) {
        c = eq_dw_window4_m1(p, x_base, ky0, ky1, kx0, kx1, out);
    }
    for (; c + 4 <= C; c += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        const int8_t *xr = x_base + c;
        const int8_t *wr = w_base + c;
        if (p->bias) {
            a0 = p->bias[c];
            a1 = p->bias[c + 1];
            a2 = p->bias[c + 2];
            a3 = p->bias[c + 3];
        }
        for (ky = 0; ky < n_ky; ++ky, xr += xrow_step, wr += wrow_step) {
            const int8_t *xp = xr;
            const int8_t *wp = wr;
            for (kx = 0; kx < n_kx; ++kx, xp += xstep, wp += C) {
                const int32_t xv = eq_load32(xp);
                const int32_t wv = eq_load32(wp);
                const int32_t xe = eq_sxtab16(off2, xv), xo = eq_sxtab16_ror8(off2, xv);
                const int32_t we = eq_sxtb16(wv), wo = eq_sxtb16_ror8(wv);
                a0 = eq_smlabb(xe, we, a0);
                a2 = eq_smlatt(xe, we, a2);
                a1 = eq_smlabb(xo, wo, a1);
                a3 = eq_smlatt(xo, wo, a3);
            }
        }
        out[c] = eq_requant(a0, p, c);
        out[c + 1] = eq_requant(a1, p, c + 1);
        out[c + 2] = eq_requant(a2, p, c + 2);
        out[c + 3] = eq_requant(a3, p, c + 3);
    }
#endif
    for (; c < C; c += 4) {
        const int32_t n = C - c < 4 ? C - c : 4;
        int32_t acc[4] = {0, 0, 0, 0}, ws[4] = {0, 0, 0, 0};
        for (j = 0; j < n; ++j) {
            acc[j] = full ? p->bias_eff[c + j] : (p->bias ? p->bias[c + j] : 0);
        }
        for (ky = ky0; ky < ky1; ++ky) {
            for (kx = kx0; kx < kx1; ++kx) {
                const int8_t *xp = in_b + ((size_t)(iy0 + p->dil_h * ky) * p->in_w + (ix0 + p->dil_w * kx)) * C + c;
                const int8_t *wp = p->filter + ((size_t)ky * p->k_w + kx) * C + c;
                for (j = 0; j < n; ++j) {
                    acc[j] += (int32_t)wp[j] * xp[j];
                    ws[j] += wp[j];
                }
            }
        }
        for (j = 0; j < n; ++j) {
            out[c + j] = eq_requant(full ? acc[j] : acc[j] + ws[j] * p->in_offset, p, c + j);
        }
    }
}

#ifdef EDGEQ_MVE
/* acc + x * w lane by lane (MVE has no vector-by-vector multiply-accumulate: VMUL + VADD). */
static inline int32x4_t eq_mve_mac(int32x4_t acc, int32x4_t x, int32x4_t w)
{
    return vaddq_s32(acc, vmulq_s32(x, w));
}

/* Requantization vectors of channels c .. c+3: the multipliers and the (signed) shifts. */
static inline void eq_mve_dw_rq_params(const edgeq_conv_params *p, int32_t c, int32x4_t *m, int32x4_t *sh)
{
    if (p->rq) {
        const uint32x4_t triple = vmulq_n_u32(vidupq_n_u32(0, 1), 3u);
        *m = vldrwq_gather_shifted_offset_s32(p->rq + 3 * c, triple);
        *sh = vnegq_s32(vldrwq_gather_shifted_offset_s32(p->rq + 3 * c + 2, triple));
    } else if (p->per_channel) {
        *m = vldrwq_s32(p->mult + c);
        *sh = vldrwq_s32(p->shift + c);
    } else {
        *m = vdupq_n_s32(p->mult[0]);
        *sh = vdupq_n_s32(p->shift[0]);
    }
}

/* n (2..4) consecutive output pixels of one row, all with full windows: each weight vector is loaded once for four
 * pixels (CMSIS-NN's depthwise does the same through an im2col buffer; here the input is read in place). With n < 4
 * the last pixel is computed again in the spare lanes of work and not stored. */
static void eq_mve_dw_run4(const edgeq_conv_params *p, const int8_t *x0, int32_t n, int8_t *restrict out)
{
    const int32_t C = p->in_c, C4 = p->in_c & ~3;
    const int32_t ps = p->stride_w * C, xs = p->dil_w * C, ys = p->dil_h * p->in_w * C;
    const int32_t p2 = (n > 2 ? 2 : 1) * ps, p3 = (n > 3 ? 3 : n - 1) * ps;
    const int32_t k_h = p->k_h, k_w = p->k_w, fast = p->rq != NULL;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int32_t zp = p->out_offset;
    int32_t c, ky, kx;
    for (c = 0; c < C4; c += 4) {
        const int8_t *xr = x0 + c, *wp = p->filter + c;
        int32x4_t a0 = vldrwq_s32(p->bias_eff + c), a1 = a0, a2 = a0, a3 = a0, m, sh;
        for (ky = 0; ky < k_h; ++ky, xr += ys) {
            const int8_t *xp = xr;
            for (kx = 0; kx < k_w; ++kx, xp += xs, wp += C) {
                const int32x4_t w = vldrbq_s32(wp);
                a0 = eq_mve_mac(a0, vldrbq_s32(xp), w);
                a1 = eq_mve_mac(a1, vldrbq_s32(xp + ps), w);
                a2 = eq_mve_mac(a2, vldrbq_s32(xp + p2), w);
                a3 = eq_mve_mac(a3, vldrbq_s32(xp + p3), w);
            }
        }
        eq_mve_dw_rq_params(p, c, &m, &sh);
        if (fast) { /* eq_mve_rq_fast4 with the vectors already loaded */
            a0 = vrshlq_s32(vaddq_s32(vqrdmulhq_s32(a0, m), vshrq_n_s32(a0, 31)), sh);
            a1 = vrshlq_s32(vaddq_s32(vqrdmulhq_s32(a1, m), vshrq_n_s32(a1, 31)), sh);
            a2 = vrshlq_s32(vaddq_s32(vqrdmulhq_s32(a2, m), vshrq_n_s32(a2, 31)), sh);
            a3 = vrshlq_s32(vaddq_s32(vqrdmulhq_s32(a3, m), vshrq_n_s32(a3, 31)), sh);
        } else {
            a0 = eq_mve_mbqm_lanes(a0, m, sh);
            a1 = eq_mve_mbqm_lanes(a1, m, sh);
            a2 = eq_mve_mbqm_lanes(a2, m, sh);
            a3 = eq_mve_mbqm_lanes(a3, m, sh);
        }
        vstrbq_s32(out + c, vminq_s32(vmaxq_s32(vaddq_n_s32(a0, zp), lo), hi));
        vstrbq_s32(out + C + c, vminq_s32(vmaxq_s32(vaddq_n_s32(a1, zp), lo), hi));
        if (n > 2) {
            vstrbq_s32(out + 2 * C + c, vminq_s32(vmaxq_s32(vaddq_n_s32(a2, zp), lo), hi));
        }
        if (n > 3) {
            vstrbq_s32(out + 3 * C + c, vminq_s32(vmaxq_s32(vaddq_n_s32(a3, zp), lo), hi));
        }
    }
}

/* Helium, depth multiplier 1, one output pixel: four channels per vector (VLDRB.S32 widens inputs and weights) over
 * the taps [ky0, ky1) x [kx0, kx1) whose first input is x_base. A full window starts from bias_eff and uses the raw
 * input; a clipped one starts from the bias and adds in_offset to every input (TFLM skips the taps outside).
 * Returns the number of channels done (in_c & ~3). */
static int32_t eq_mve_dw_pixel(const edgeq_conv_params *p, const int8_t *x_base, int32_t ky0, int32_t ky1,
                               int32_t kx0, int32_t kx1, int8_t *restrict out)
{
    const int32_t C = p->in_c, C4 = p->in_c & ~3;
    const int32_t n_ky = ky1 - ky0, n_kx = kx1 - kx0;
    const int32_t full = n_ky == p->k_h && n_kx == p->k_w;
    const int32_t xs = p->dil_w * C, ys = p->dil_h * p->in_w * C, ws = p->k_w * C;
    const int32_t off = full ? 0 : p->in_offset, fast = p->rq != NULL, zp = p->out_offset;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int32_t *acc0 = full ? p->bias_eff : p->bias;
    const int8_t *w_base = p->filter + (size_t)(ky0 * p->k_w + kx0) * C;
    int32_t c, ky, kx;
    for (c = 0; c < C4; c += 4) {
        const int8_t *xr = x_base + c, *wr = w_base + c;
        int32x4_t acc = acc0 ? vldrwq_s32(acc0 + c) : vdupq_n_s32(0), m, sh;
        if (n_kx == 3) { /* the common 3-wide rows (also clipped top and bottom), unrolled */
            for (ky = 0; ky < n_ky; ++ky, xr += ys, wr += ws) {
                acc = eq_mve_mac(acc, vaddq_n_s32(vldrbq_s32(xr), off), vldrbq_s32(wr));
                acc = eq_mve_mac(acc, vaddq_n_s32(vldrbq_s32(xr + xs), off), vldrbq_s32(wr + C));
                acc = eq_mve_mac(acc, vaddq_n_s32(vldrbq_s32(xr + 2 * xs), off), vldrbq_s32(wr + 2 * C));
            }
        } else {
            for (ky = 0; ky < n_ky; ++ky, xr += ys, wr += ws) {
                const int8_t *xp = xr, *wp = wr;
                for (kx = 0; kx < n_kx; ++kx, xp += xs, wp += C) {
                    acc = eq_mve_mac(acc, vaddq_n_s32(vldrbq_s32(xp), off), vldrbq_s32(wp));
                }
            }
        }
        eq_mve_dw_rq_params(p, c, &m, &sh);
        if (fast) {
            acc = vrshlq_s32(vaddq_s32(vqrdmulhq_s32(acc, m), vshrq_n_s32(acc, 31)), sh);
        } else {
            acc = eq_mve_mbqm_lanes(acc, m, sh);
        }
        vstrbq_s32(out + c, vminq_s32(vmaxq_s32(vaddq_n_s32(acc, zp), lo), hi));
    }
    return C4;
}
#endif

void edgeq_depthwise_conv2d_s8(const edgeq_conv_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, ic, m, ky, kx;
#if defined(EDGEQ_DSP) && !defined(EDGEQ_MVE)
    const int32_t fast3x3 = p->dw_w && p->rq && p->depth_mult == 1 && p->k_h == 3 && p->k_w == 3;
#endif
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t ky0, ky1;
            eq_valid_taps(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t kx0, kx1;
                eq_valid_taps(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
                if (p->depth_mult == 1) {
                    int32_t c0 = 0;
#if defined(EDGEQ_MVE)
                    /* the run of up to four pixels from ox whose windows are fully inside */
                    m = 0;
                    if (ky1 - ky0 == p->k_h && ix0 >= 0) {
                        while (m < 4 && ox + m < p->out_w &&
                               ix0 + m * p->stride_w + (p->k_w - 1) * p->dil_w < p->in_w) {
                            ++m;
                        }
                    }
                    if (m >= 2) {
                        eq_mve_dw_run4(p, in_b + ((size_t)iy0 * p->in_w + ix0) * p->in_c, m, out);
                        for (ic = 0; ic < m && (p->in_c & 3); ++ic) {
                            eq_dw_pixel_m1(p, in_b, iy0, ix0 + ic * p->stride_w, 0, p->k_h, 0, p->k_w,
                                           p->in_c & ~3, out + ic * p->out_c);
                        }
                        out += m * p->out_c;
                        ox += m - 1;
                        continue;
                    }
                    c0 = eq_mve_dw_pixel(p, in_b + ((size_t)(iy0 + p->dil_h * ky0) * p->in_w + ix0 + p->dil_w * kx0) *
                                                      p->in_c, ky0, ky1, kx0, kx1, out);
#elif defined(EDGEQ_DSP)
                    if (fast3x3) {
                        if (ky0 == 0 && ky1 == 3 && kx0 == 0 && kx1 == 3) {
                            eq_dw_full3x3_m1(p, in_b + ((size_t)iy0 * p->in_w + ix0) * p->in_c,
                                             p->dil_w * p->in_c, p->dil_h * p->in_w * p->in_c, out);
                            c0 = p->in_c & ~3;
                        } else if (9 * p->in_c <= EDGEQ_DW_WINDOW_BYTES) {
                            eq_dw_clipped3x3_m1(p, in_b, iy0, ix0, out);
                            c0 = p->in_c & ~3;
                        }
                    }
#endif
                    if (c0 < p->in_c) {
                        eq_dw_pixel_m1(p, in_b, iy0, ix0, ky0, ky1, kx0, kx1, c0, out);
                    }
                    out += p->out_c;
                    continue;
                }
                for (ic = 0; ic < p->in_c; ++ic) {
                    for (m = 0; m < p->depth_mult; ++m) {
                        const int32_t oc = ic * p->depth_mult + m;
                        int32_t acc = p->bias ? p->bias[oc] : 0;
                        for (ky = ky0; ky < ky1; ++ky) {
                            const int32_t iy = iy0 + p->dil_h * ky;
                            for (kx = kx0; kx < kx1; ++kx) {
                                const int32_t x = in_b[((size_t)iy * p->in_w + ix0 + p->dil_w * kx) * p->in_c + ic];
                                acc += (int32_t)p->filter[((size_t)ky * p->k_w + kx) * p->out_c + oc] *
                                       (x + p->in_offset);
                            }
                        }
                        out[oc] = eq_requant(acc, p, oc);
                    }
                }
                out += p->out_c;
            }
        }
    }
}
#endif
