/* edgeq runtime: DEPTHWISE_CONV_2D's Helium (MVE) paths, Cortex-M55/M85 (see edgeq_core.h for the contract).
 * edgeq_depthwise_conv2d_s8() in edgeq_dwconv.c tries edgeq_dw_mve() first in Helium builds and takes
 * edgeq_dw_mve_pixel() per output pixel for layers it leaves; kept apart from the DSP and plain-C paths so each
 * core's kernels can be read (and changed) on their own.
 */
#include "edgeq_dsp.h"
#include "edgeq_mve.h"

#if defined(EDGEQ_MVE) && !defined(EDGEQ_OVERRIDE_DEPTHWISE_CONV2D_S8)
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

/* Helium, depth multiplier 1, one output pixel: four channels per vector (VLDRB.S32 widens inputs and weights) over
 * the taps [ky0, ky1) x [kx0, kx1) whose first input is x_base. A full window starts from bias_eff and uses the raw
 * input; a clipped one starts from the bias and adds in_offset to every input (TFLM skips the taps outside).
 * Returns the number of channels done (in_c & ~3). */
int32_t edgeq_dw_mve_pixel(const edgeq_conv_params *p, const int8_t *x_base, int32_t ys, int32_t ky0,
                           int32_t ky1, int32_t kx0, int32_t kx1, int8_t *restrict out)
{
    const int32_t C = p->in_c, C4 = p->in_c & ~3;
    const int32_t n_ky = ky1 - ky0, n_kx = kx1 - kx0;
    const int32_t full = n_ky == p->k_h && n_kx == p->k_w;
    const int32_t xs = p->dil_w * C, ws = p->k_w * C;
    const int32_t off = full ? 0 : p->in_offset, fast = p->rq != NULL, zp = p->out_offset;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int32_t *acc0 = full ? p->bias_eff : p->bias;
    const int8_t *w_base = p->filter + (size_t)(ky0 * p->k_w + kx0) * C;
    int32_t c, ky, kx;
    for (c = 0; c < C4; c += 4) {
        const int8_t *xr = x_base + c, *wr = w_base + c;
        int32x4_t acc = acc0 ? vldrwq_s32(acc0 + c) : vdupq_n_s32(0), m, sh;
        if (n_kx == 3 && full) { /* the common 3x3 window, unrolled */
            for (ky = 0; ky < 3; ++ky, xr += ys, wr += ws) {
                acc = eq_mve_mac(acc, vldrbq_s32(xr), vldrbq_s32(wr));
                acc = eq_mve_mac(acc, vldrbq_s32(xr + xs), vldrbq_s32(wr + C));
                acc = eq_mve_mac(acc, vldrbq_s32(xr + 2 * xs), vldrbq_s32(wr + 2 * C));
            }
        } else if (n_kx == 3) { /* 3-wide rows of windows clipped at the top or bottom */
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

#ifndef EDGEQ_DW_ROWS_BYTES
#define EDGEQ_DW_ROWS_BYTES 1536 /* stack for the zero-point padded input rows of the Helium path */
#endif
#define EQ_DW_MAX_KH 8
/* Channel order inside a group of four in dw_w ({w0, w2} and {w1, w3} as int16 pairs): VLDRH.S32 of a tap's two
 * words gives lanes {w0, w2, w1, w3}; the input rows are copied in that order too, and the outputs scattered back. */
static const uint32_t eq_dw_perm[4] = {0, 2, 1, 3};

/* Requantize one pixel's four channels (lanes in dw_w order) and scatter them to o_. */
#define EQ_MVE_DW_STORE(v_, o_)                                                                            \
    do {                                                                                                   \
        int32x4_t r_;                                                                                      \
        if (fast) {                                                                                        \
            r_ = vrshlq_s32(vaddq_s32(vqrdmulhq_s32((v_), m), vshrq_n_s32((v_), 31)), sh);                   \
        } else {                                                                                           \
            r_ = eq_mve_mbqm_lanes((v_), m, sh);                                                           \
        }                                                                                                  \
        r_ = vaddq_n_s32(r_, zp);                                                                          \
        if (full_range) { /* saturate to int8 without two constant vectors */                              \
            r_ = vshrq_n_s32(vqshlq_n_s32(r_, 24), 24);                                                    \
        } else {                                                                                           \
            r_ = vminq_s32(vmaxq_s32(r_, vdupq_n_s32(p->act_min)), vdupq_n_s32(p->act_max));               \
        }                                                                                                  \
        vstrbq_scatter_offset_s32((o_), perm, r_);                                                         \
    } while (0)

/* One group of four channels of one output row. Row ky of the padded input is at row[ky] + goff (pixels 4 bytes
 * apart, channels in dw_w order, the zero point in the padding): chunks of four pixels, then single pixels, every
 * input address an immediate offset (S = stride, a constant where inlined), each weight vector loaded once per
 * chunk. */
static inline __attribute__((always_inline)) void eq_mve_dw_group(const edgeq_conv_params *p,
                                                                  const int8_t *const row[], int32_t goff, int32_t g,
                                                                  const int S, const int common,
                                                                  int8_t *restrict out)
{
    /* common (a constant where inlined): rq present and no activation clamp, the requantization without branches */
    const int32_t C = p->in_c, k_h = p->k_h, k_w = p->k_w, taps = p->k_h * p->k_w, fast = common || p->rq != NULL;
    const int32_t zp = p->out_offset;
    const int32_t full_range = common || (p->act_min == -128 && p->act_max == 127);
    const uint32x4_t perm = vldrwq_u32(eq_dw_perm);
    const int16_t *wg = (const int16_t *)(p->dw_w + 2 * taps * g);
    const int32x4_t bias = vldrwq_gather_shifted_offset_s32(p->bias_eff + 4 * g, perm);
    int8_t *o = out + 4 * g;
    int32x4_t m, sh;
    int32_t ox = 0, ky, kx;
    if (fast) {
        const uint32x4_t t3 = vmulq_n_u32(perm, 3u);
        m = vldrwq_gather_shifted_offset_s32(p->rq + 12 * g, t3);
        sh = vnegq_s32(vldrwq_gather_shifted_offset_s32(p->rq + 12 * g + 2, t3));
    } else if (p->per_channel) {
        m = vldrwq_gather_shifted_offset_s32(p->mult + 4 * g, perm);
        sh = vldrwq_gather_shifted_offset_s32(p->shift + 4 * g, perm);
    } else {
        m = vdupq_n_s32(p->mult[0]);
        sh = vdupq_n_s32(p->shift[0]);
    }
    for (; ox + 4 <= p->out_w; ox += 4, o += 4 * C) {
        const int16_t *wk = wg;
        int32x4_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
#define EQ_MVE_DW_TAP4(xk_, wk_)                                                                           \
    do {                                                                                                   \
        const int32x4_t w_ = vldrhq_s32(wk_);                                                              \
        a0 = eq_mve_mac(a0, vldrbq_s32(xk_), w_);                                                          \
        a1 = eq_mve_mac(a1, vldrbq_s32((xk_) + 4 * S), w_);                                                \
        a2 = eq_mve_mac(a2, vldrbq_s32((xk_) + 8 * S), w_);                                                \
        a3 = eq_mve_mac(a3, vldrbq_s32((xk_) + 12 * S), w_);                                               \
    } while (0)
        for (ky = 0; ky < k_h; ++ky) {
            const int8_t *xk = row[ky] + goff + 4 * S * ox;
            for (kx = 0; kx < k_w; ++kx, xk += 4, wk += 4) {
                EQ_MVE_DW_TAP4(xk, wk);
            }
        }
#undef EQ_MVE_DW_TAP4
        EQ_MVE_DW_STORE(a0, o);
        EQ_MVE_DW_STORE(a1, o + C);
        EQ_MVE_DW_STORE(a2, o + 2 * C);
        EQ_MVE_DW_STORE(a3, o + 3 * C);
    }
    for (; ox < p->out_w; ++ox, o += C) {
        const int16_t *wk = wg;
        int32x4_t a0 = bias;
        for (ky = 0; ky < k_h; ++ky) {
            const int8_t *xk = row[ky] + goff + 4 * S * ox;
            for (kx = 0; kx < k_w; ++kx, xk += 4, wk += 4) {
                a0 = eq_mve_mac(a0, vldrbq_s32(xk), vldrhq_s32(wk));
            }
        }
        EQ_MVE_DW_STORE(a0, o);
    }
}
#undef EQ_MVE_DW_STORE

/* Input row iy, channel groups [g0, g0 + ng), into dst (group after group, wp pixels of 4 bytes each, channels in
 * dw_w order), the input zero point outside the input. */
static void eq_mve_dw_copy_row(const edgeq_conv_params *p, const int8_t *in_b, int32_t iy, int32_t g0, int32_t ng,
                               int32_t wp, int32_t *dst)
{
    const int32_t C = p->in_c, zpw = (int32_t)(0x01010101u * (uint8_t)(int8_t)(-p->in_offset));
    const int32_t c0 = p->pad_w < wp ? p->pad_w : wp;
    const int32_t c1 = p->pad_w + p->in_w < wp ? p->pad_w + p->in_w : wp;
    const uint32x4_t perm = vldrwq_u32(eq_dw_perm);
    int32_t gi, col;
    for (gi = 0; gi < ng; ++gi, dst += wp) {
        if (iy < 0 || iy >= p->in_h) {
            for (col = 0; col < wp; ++col) {
                dst[col] = zpw;
            }
            continue;
        }
        {
            const int8_t *src = in_b + ((size_t)iy * p->in_w + (c0 - p->pad_w)) * C + 4 * (g0 + gi);
            for (col = 0; col < c0; ++col) {
                dst[col] = zpw;
            }
            if (C <= 84) { /* four pixels per 16-byte gather (offsets in uint8: 3 * C + 3 <= 255) */
                /* byte 4 * q + b of four pixels <- pixel q's channel eq_dw_perm[b] (b's two bits swapped) */
                const uint8x16_t idx = vidupq_n_u8(0, 1), b = vandq_u8(idx, vdupq_n_u8(3));
                const uint8x16_t offs = vaddq_u8(vmulq_n_u8(vshrq_n_u8(idx, 2), (uint8_t)C),
                                                 vorrq_u8(vshlq_n_u8(vandq_u8(b, vdupq_n_u8(1)), 1), vshrq_n_u8(b, 1)));
                for (; col + 4 <= c1; col += 4, src += 4 * C) {
                    vstrbq_u8((uint8_t *)(dst + col), vldrbq_gather_offset_u8((const uint8_t *)src, offs));
                }
            }
            for (; col < c1; ++col, src += C) {
                vstrbq_scatter_offset_s32((int8_t *)(dst + col), perm, vldrbq_s32(src));
            }
            for (; col < wp; ++col) {
                dst[col] = zpw;
            }
        }
    }
}

/* Depthwise on Helium with padded rows: the input rows an output row reads are copied into the stack group by group
 * (pixels 4 bytes apart, channels in dw_w order, the input zero point in the padding: taps there add
 * w * (zp + in_offset) == 0, like the taps TFLM skips), so every window is full and uses bias_eff, and every load
 * has an immediate offset. When all channel groups fit, the rows stay in a ring (each input row copied once);
 * otherwise blocks of groups are copied per output row. Needs depth multiplier 1, no dilation, stride 1 or 2, in_c a
 * multiple of 4 and dw_w; returns 0 when it does not apply. */
static int eq_mve_dw_padded(const edgeq_conv_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t rows[EDGEQ_DW_ROWS_BYTES / 4];
    const int8_t *row[EQ_DW_MAX_KH];
    const int32_t C = p->in_c, S = p->stride_w, k_h = p->k_h;
    const int32_t wp = (p->out_w - 1) * S + p->k_w, groups = C / 4;
    const int32_t G = EDGEQ_DW_ROWS_BYTES / (k_h * wp * 4);
    const int32_t ring = G >= groups, common = p->rq && p->act_min == -128 && p->act_max == 127;
    /* stride 1 (no MLPerf Tiny layer: those run planar) takes the generic loop: one specialisation less, 520 B */
    const int32_t common2 = common && S == 2;
    int32_t b, oy, g0, g, ky;
    if (p->depth_mult != 1 || p->dil_h != 1 || p->dil_w != 1 || (S != 1 && S != 2) || (C & 3) || !p->dw_w ||
        G < 1 || k_h > EQ_DW_MAX_KH) {
        return 0;
    }
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * C;
        int32_t next_iy = -p->pad_h; /* ring: the first input row not copied yet */
        for (oy = 0; oy < p->out_h; ++oy, out += (size_t)p->out_w * C) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (g0 = 0; g0 < groups; g0 += G) {
                const int32_t ng = groups - g0 < G ? groups - g0 : G;
                if (ring) { /* copy the rows not in the ring yet; the ring's slot for input row iy is iy mod k_h */
                    if (next_iy < iy0) {
                        next_iy = iy0;
                    }
                    for (; next_iy < iy0 + k_h; ++next_iy) {
                        const int32_t slot = ((next_iy % k_h) + k_h) % k_h;
                        eq_mve_dw_copy_row(p, in_b, next_iy, 0, groups, wp, rows + slot * groups * wp);
                    }
                    for (ky = 0; ky < k_h; ++ky) {
                        row[ky] = (const int8_t *)(rows + ((((iy0 + ky) % k_h) + k_h) % k_h) * groups * wp);
                    }
                } else {
                    for (ky = 0; ky < k_h; ++ky) {
                        eq_mve_dw_copy_row(p, in_b, iy0 + ky, g0, ng, wp, rows + ky * ng * wp);
                        row[ky] = (const int8_t *)(rows + ky * ng * wp);
                    }
                }
                for (g = 0; g < ng; ++g) {
                    if (!common2) {
                        eq_mve_dw_group(p, row, 4 * g * wp, g0 + g, S, 0, out);
                    } else {
                        eq_mve_dw_group(p, row, 4 * g * wp, g0 + g, 2, 1, out);
                    }
                }
            }
        }
    }
    return 1;
}

#ifndef EDGEQ_DW_PLANAR_BYTES
#define EDGEQ_DW_PLANAR_BYTES 4096 /* stack for the channel-planar padded input of the Helium path */
#endif
/* Geometry of the channel-planar Helium depthwise (stride 1): vector lanes run along one spatial axis of the output
 * (x in "row" mode, y in "column" mode, whichever fills its four-lane vectors better), "rows" along the other. Each
 * channel's padded input is a plane of `rows` rows of Q bytes, lane-axis positions consecutive, so a tap's inputs
 * for four consecutive outputs are one VLDRB.S32. */
typedef struct {
    int32_t n_lanes, n_rows;   /* output extent along the lane axis / the row axis */
    int32_t lane_out, row_out; /* output bytes between neighbours along them */
    int32_t k_lane, k_row;     /* window extent along them */
    int32_t w_lane, w_row;     /* filter bytes between taps along them */
    int32_t in_lanes, in_rows; /* input extent along them */
    int32_t pad_lane, pad_row; /* padding before */
    int32_t lane_in, row_in;   /* input bytes between neighbours along them */
    int32_t Q, rows;           /* plane row pitch and rows */
    int32_t Qc;                /* bytes of each plane row filled (<= Q; lanes past them are computed, not stored) */
    int32_t H;                 /* stride 2: each plane row holds the even padded positions, then from H the odd */
} eq_dwp_geom;

/* Channels [c0, c0 + nc) of the input, padded with the input zero point, into buf channel-planar (channel c's plane
 * at buf + (c - c0) * plane): eight lane positions per gather (VLDRB.U16, offsets in int16), the lanes outside the
 * input predicated off and replaced by the zero point; offsets and predicates computed once per chunk. Not inlined:
 * its spills would sit in eq_mve_dw_planar's frame, under the kernels' (the deepest stack of the model). */
static __attribute__((noinline)) void eq_mve_dwp_copy(const edgeq_conv_params *p, const eq_dwp_geom *g,
                                                      const int8_t *in_b, int32_t c0, int32_t nc, int32_t plane,
                                                      int8_t *buf)
{
    const uint16x8_t zpv = vdupq_n_u16((uint16_t)(uint8_t)(int8_t)(-p->in_offset));
    const int32_t S = g->H ? 2 : 1, W = g->H ? g->H : g->Qc;
    int32_t i0, r, c, ph;
    for (ph = 0; ph < S; ++ph) {
    for (i0 = 0; i0 < W; i0 += 8) {
        const int16x8_t pos = vmulq_n_s16(vreinterpretq_s16_u16(vidupq_n_u16((uint32_t)i0, 1)), (int16_t)S);
        const int16x8_t il = vaddq_n_s16(pos, (int16_t)(ph - g->pad_lane));
        const mve_pred16_t inside = vcmpltq_n_s16(il, (int16_t)g->in_lanes) & vcmpgeq_n_s16(il, 0);
        const uint16x8_t offs = vreinterpretq_u16_s16(vmulq_n_s16(il, (int16_t)g->lane_in));
        int8_t *d = buf + ph * g->H + i0;
        if (g->rows > nc) { /* tall planes, few channels (VWW's 48x48x8: one per block): rows innermost */
            const int32_t rows = g->rows, Q = g->Q, row_in = g->row_in; /* (g's fields reloaded after each store) */
            const int32_t r0 = g->pad_row < rows ? g->pad_row : rows;
            const int32_t r1 = g->pad_row + g->in_rows < rows ? g->pad_row + g->in_rows : rows;
            for (c = 0; c < nc; ++c, d += plane) {
                const uint8_t *src = (const uint8_t *)in_b + c0 + c;
                int8_t *dr = d;
                for (r = 0; r < r0; ++r, dr += Q) {
                    vstrbq_u16((uint8_t *)dr, zpv);
                }
                for (; r < r1; ++r, dr += Q, src += row_in) {
                    vstrbq_u16((uint8_t *)dr, vpselq_u16(vldrbq_gather_offset_z_u16(src, offs, inside), zpv, inside));
                }
                for (; r < rows; ++r, dr += Q) {
                    vstrbq_u16((uint8_t *)dr, zpv);
                }
            }
            continue;
        }
        for (r = 0; r < g->rows; ++r, d += g->Q) {
            const int32_t ir = r - g->pad_row;
            int8_t *dc = d;
            if (ir < 0 || ir >= g->in_rows) {
                for (c = 0; c < nc; ++c, dc += plane) {
                    vstrbq_u16((uint8_t *)dc, zpv);
                }
            } else {
                const uint8_t *src = (const uint8_t *)in_b + (size_t)ir * g->row_in + c0;
                if (inside == 0xffff) { /* no lane in the padding (KWS's middle chunks): no predicate, no select */
                    for (c = 0; c < nc; ++c, dc += plane) {
                        vstrbq_u16((uint8_t *)dc, vldrbq_gather_offset_u16(src + c, offs));
                    }
                    continue;
                }
                for (c = 0; c < nc; ++c, dc += plane) {
                    vstrbq_u16((uint8_t *)dc, vpselq_u16(vldrbq_gather_offset_z_u16(src + c, offs, inside), zpv,
                                                         inside));
                }
            }
        }
    }
    }
}

/* Requantize four outputs of channel c (lanes) and store the ones inside (a predicated scatter, lane_out apart). */
#define EQ_MVE_DWP_STORE(acc_, i_, orow_)                                                                  \
    do {                                                                                                   \
        int32x4_t r_ = vrshlq_n_s32(vaddq_s32(vqrdmulhq_n_s32((acc_), m), vshrq_n_s32((acc_), 31)), nsh);  \
        r_ = vminq_s32(vmaxq_s32(vaddq_n_s32(r_, zp), lo), hi);                                            \
        vstrbq_scatter_offset_p_s32((orow_) + (size_t)(i_) * g->lane_out + c, ooffs, r_,                  \
                                    vctp32q((uint32_t)(n_lanes - (i_))));                                  \
    } while (0)
#define EQ_MVE_DWP_SETUP                                                                                   \
    const int32_t n_lanes = g->n_lanes, Q = g->Q;                                                          \
    const int32_t bias = p->bias_eff[c], m = p->rq[3 * c], nsh = -p->rq[3 * c + 2], zp = p->out_offset;    \
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);                           \
    const uint32x4_t ooffs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)g->lane_out)

/* All outputs of one channel of a 3x3 depthwise from its plane x, four outputs per vector and two rows per pass: per
 * plane row and tap one VLDRB.S32 of four consecutive inputs, shared by both output rows where their windows
 * overlap, and one VMLA by the tap's weight (a scalar) per output row; the requantization on four outputs at once;
 * the per-channel setup once per layer. */
static void eq_mve_dwp_3x3(const edgeq_conv_params *p, const eq_dwp_geom *g, const int8_t *x, int32_t c,
                           int8_t *restrict out)
{
    EQ_MVE_DWP_SETUP;
    const int8_t *f = p->filter + c;
    const int32_t wl = g->w_lane, wr = g->w_row;
    const int32_t w0 = f[0], w1 = f[wl], w2 = f[2 * wl], w3 = f[wr], w4 = f[wr + wl], w5 = f[wr + 2 * wl];
    const int32_t w6 = f[2 * wr], w7 = f[2 * wr + wl], w8 = f[2 * wr + 2 * wl];
    int32_t j = 0, i;
#define EQ_DWP_LOAD3(rp_) const int32x4_t v0_ = vldrbq_s32(rp_), v1_ = vldrbq_s32((rp_) + 1), v2_ = vldrbq_s32((rp_) + 2)
#define EQ_DWP_MAC3(a_, wa_, wb_, wc_)                                                                     \
    a_ = vmlaq_n_s32(vmlaq_n_s32(vmlaq_n_s32(a_, v0_, (wa_)), v1_, (wb_)), v2_, (wc_))
    for (; j + 2 <= g->n_rows; j += 2, x += 2 * Q) {
        const int8_t *r0 = x, *r1 = x + Q, *r2 = x + 2 * Q, *r3 = x + 3 * Q;
        for (i = 0; i < n_lanes; i += 4, r0 += 4, r1 += 4, r2 += 4, r3 += 4) {
            int32x4_t a0 = vdupq_n_s32(bias), a1 = a0;
            { EQ_DWP_LOAD3(r0); EQ_DWP_MAC3(a0, w0, w1, w2); }
            { EQ_DWP_LOAD3(r1); EQ_DWP_MAC3(a0, w3, w4, w5); EQ_DWP_MAC3(a1, w0, w1, w2); }
            { EQ_DWP_LOAD3(r2); EQ_DWP_MAC3(a0, w6, w7, w8); EQ_DWP_MAC3(a1, w3, w4, w5); }
            { EQ_DWP_LOAD3(r3); EQ_DWP_MAC3(a1, w6, w7, w8); }
            EQ_MVE_DWP_STORE(a0, i, out + (size_t)j * g->row_out);
            EQ_MVE_DWP_STORE(a1, i, out + (size_t)(j + 1) * g->row_out);
        }
    }
    if (j < g->n_rows) { /* the last row of an odd count */
        const int8_t *r0 = x, *r1 = x + Q, *r2 = x + 2 * Q;
        for (i = 0; i < n_lanes; i += 4, r0 += 4, r1 += 4, r2 += 4) {
            int32x4_t a0 = vdupq_n_s32(bias);
            { EQ_DWP_LOAD3(r0); EQ_DWP_MAC3(a0, w0, w1, w2); }
            { EQ_DWP_LOAD3(r1); EQ_DWP_MAC3(a0, w3, w4, w5); }
            { EQ_DWP_LOAD3(r2); EQ_DWP_MAC3(a0, w6, w7, w8); }
            EQ_MVE_DWP_STORE(a0, i, out + (size_t)j * g->row_out);
        }
    }
#undef EQ_DWP_MAC3
#undef EQ_DWP_LOAD3
}

#if defined(EDGEQ_ASM_REGS) /* edgeq_common.h: optimising, no EDGEQ_NO_ASM */
/* The 3x3 planar loop by hand (GCC spills the nine scalar weights and the four row pointers of the C loop: ~12
 * instructions per output). Planes whose row pitch Q is 32 or 64 (a constant in the load offsets, so one
 * pointer serves four plane rows): per four outputs of two rows, 12 VLDRB.S32 and 18 VMUL/VMLA by the weights in
 * scalar registers, two VSTRW of the raw sums into a stack buffer, ADDS, LE; the requantization then runs over that
 * buffer. */
#define EQ_DWP_ASM 1
#define EQ_DWP_CHUNK 16 /* four-lane groups per asm loop (2 x 16 x 16 bytes of sums on the stack) */
/* row r_, tap t_ of the plane: one pointer for four plane rows, 1.5 rows past the first (offsets within +-127) */
#define EQ_DWP_ASM_LD(q_, QC, r_, t_)                                                                      \
    "vldrb.s32 " q_ ", [%[xp], #(" #r_ "*" #QC "+" #t_ "-(3*" #QC ">>1))]\n\t"
#define EQ_DWP_ASM_MAC(acc_, q_, w_) "vmla.s32 " acc_ ", " q_ ", %[" w_ "]\n\t"
#define EQ_DWP_ASM_OPS                                                                                     \
    : [xp] "+r"(rxp), [a] "+r"(ra)                                                                         \
    : [n] "m"(n), [w0] "r"(rw0), [w1] "r"(rw1), [w2] "r"(rw2), [w3] "r"(rw3), [w4] "r"(rw4), [w5] "r"(rw5), \
      [w6] "r"(rw6), [w7] "r"(rw7), [w8] "r"(rw8)                                                          \
    : "q0", "q1", "q2", "q3", "q4", "lr", "cc", "memory"
/* two output rows from plane rows 0..3: sums of the first in q3, of the second in q4 */
#define EQ_DWP_ASM_BODY2(QC)                                                                               \
                     EQ_DWP_ASM_LD("q0", QC, 0, 0) "vmul.i32 q3, q0, %[w0]\n\t"                            \
                     EQ_DWP_ASM_LD("q1", QC, 0, 1) EQ_DWP_ASM_MAC("q3", "q1", "w1")                        \
                     EQ_DWP_ASM_LD("q2", QC, 0, 2) EQ_DWP_ASM_MAC("q3", "q2", "w2")                        \
                     EQ_DWP_ASM_LD("q0", QC, 1, 0) EQ_DWP_ASM_MAC("q3", "q0", "w3")                        \
                     "vmul.i32 q4, q0, %[w0]\n\t"                                                          \
                     EQ_DWP_ASM_LD("q1", QC, 1, 1) EQ_DWP_ASM_MAC("q3", "q1", "w4")                        \
                     EQ_DWP_ASM_MAC("q4", "q1", "w1")                                                      \
                     EQ_DWP_ASM_LD("q2", QC, 1, 2) EQ_DWP_ASM_MAC("q3", "q2", "w5")                        \
                     EQ_DWP_ASM_MAC("q4", "q2", "w2")                                                      \
                     EQ_DWP_ASM_LD("q0", QC, 2, 0) EQ_DWP_ASM_MAC("q3", "q0", "w6")                        \
                     EQ_DWP_ASM_MAC("q4", "q0", "w3")                                                      \
                     EQ_DWP_ASM_LD("q1", QC, 2, 1) EQ_DWP_ASM_MAC("q3", "q1", "w7")                        \
                     EQ_DWP_ASM_MAC("q4", "q1", "w4")                                                      \
                     EQ_DWP_ASM_LD("q2", QC, 2, 2) EQ_DWP_ASM_MAC("q3", "q2", "w8")                        \
                     EQ_DWP_ASM_MAC("q4", "q2", "w5")                                                      \
                     EQ_DWP_ASM_LD("q0", QC, 3, 0) EQ_DWP_ASM_MAC("q4", "q0", "w6")                        \
                     EQ_DWP_ASM_LD("q1", QC, 3, 1) EQ_DWP_ASM_MAC("q4", "q1", "w7")                        \
                     EQ_DWP_ASM_LD("q2", QC, 3, 2) EQ_DWP_ASM_MAC("q4", "q2", "w8")                        \
                     "adds %[xp], %[xp], #4\n\t"                                                           \
                     "vstrw.32 q4, [%[a], #16]\n\t"                                                        \
                     "vstrw.32 q3, [%[a]], #32\n\t"
#define EQ_DWP_ASM_PASS2(QC)                                                                               \
    __asm__ volatile("ldr lr, %[n]\n\t"                                                                    \
                     "dls lr, lr\n"                                                                        \
                     "1:\n\t" EQ_DWP_ASM_BODY2(QC) "le lr, 1b\n\t" EQ_DWP_ASM_OPS)
/* pp row pairs, each n groups, the pointer moved on by skip bytes between pairs (the counter of pairs in memory) */
#define EQ_DWP_ASM_MULTI2(QC)                                                                              \
    __asm__ volatile("2:\n\t"                                                                              \
                     "ldr lr, %[n]\n\t"                                                                    \
                     "dls lr, lr\n"                                                                        \
                     "1:\n\t" EQ_DWP_ASM_BODY2(QC) "le lr, 1b\n\t"                                          \
                     "ldr lr, %[skip]\n\t"                                                                 \
                     "add %[xp], %[xp], lr\n\t"                                                            \
                     "ldr lr, %[pp]\n\t"                                                                   \
                     "subs lr, lr, #1\n\t"                                                                 \
                     "str lr, %[pp]\n\t"                                                                   \
                     "bne 2b\n\t"                                                                          \
                     : [xp] "+r"(rxp), [a] "+r"(ra), [pp] "+m"(pp)                                         \
                     : [n] "m"(n), [skip] "m"(skip), [w0] "r"(rw0), [w1] "r"(rw1), [w2] "r"(rw2),          \
                       [w3] "r"(rw3), [w4] "r"(rw4), [w5] "r"(rw5), [w6] "r"(rw6), [w7] "r"(rw7), [w8] "r"(rw8) \
                     : "q0", "q1", "q2", "q3", "q4", "lr", "cc", "memory")
/* one output row (the last of an odd count) from plane rows 0..2 */
#define EQ_DWP_ASM_PASS1(QC)                                                                               \
    __asm__ volatile("ldr lr, %[n]\n\t"                                                                    \
                     "dls lr, lr\n"                                                                        \
                     "1:\n\t"                                                                              \
                     EQ_DWP_ASM_LD("q0", QC, 0, 0) "vmul.i32 q3, q0, %[w0]\n\t"                            \
                     EQ_DWP_ASM_LD("q1", QC, 0, 1) EQ_DWP_ASM_MAC("q3", "q1", "w1")                        \
                     EQ_DWP_ASM_LD("q2", QC, 0, 2) EQ_DWP_ASM_MAC("q3", "q2", "w2")                        \
                     EQ_DWP_ASM_LD("q0", QC, 1, 0) EQ_DWP_ASM_MAC("q3", "q0", "w3")                        \
                     EQ_DWP_ASM_LD("q1", QC, 1, 1) EQ_DWP_ASM_MAC("q3", "q1", "w4")                        \
                     EQ_DWP_ASM_LD("q2", QC, 1, 2) EQ_DWP_ASM_MAC("q3", "q2", "w5")                        \
                     EQ_DWP_ASM_LD("q0", QC, 2, 0) EQ_DWP_ASM_MAC("q3", "q0", "w6")                        \
                     EQ_DWP_ASM_LD("q1", QC, 2, 1) EQ_DWP_ASM_MAC("q3", "q1", "w7")                        \
                     EQ_DWP_ASM_LD("q2", QC, 2, 2) EQ_DWP_ASM_MAC("q3", "q2", "w8")                        \
                     "adds %[xp], %[xp], #4\n\t"                                                           \
                     "vstrw.32 q3, [%[a]], #32\n\t"                                                        \
                     "le lr, 1b\n\t" EQ_DWP_ASM_OPS)
#define EQ_DWP_ASM_MCASE(QC)                                                                               \
    case QC:                                                                                               \
        EQ_DWP_ASM_MULTI2(QC);                                                                             \
        break
#define EQ_DWP_ASM_CASE(QC)                                                                                \
    case QC:                                                                                               \
        if (two) {                                                                                         \
            EQ_DWP_ASM_PASS2(QC);                                                                          \
        } else {                                                                                           \
            EQ_DWP_ASM_PASS1(QC);                                                                          \
        }                                                                                                  \
        break

/* Requantize n groups of four stored sums (8 words apart) of which `valid` lanes are outputs, into o (lanes
 * lane_out apart via ooffs, groups step bytes apart): only the last group predicated. */
static inline __attribute__((always_inline)) void eq_mve_dwp_rq_sums(const int32_t *s, int32_t n, int32_t valid,
                                                                     int8_t *o, int32_t step, uint32x4_t ooffs,
                                                                     int32_t bias, int32_t m, int32_t nsh, int32_t zp,
                                                                     int32x4_t lo, int32x4_t hi)
{
#define EQ_DWP_RQ_SUM(s_)                                                                                  \
    int32x4_t r_ = vaddq_n_s32(vldrwq_s32(s_), bias);                                                      \
    r_ = vrshlq_n_s32(vaddq_s32(vqrdmulhq_n_s32(r_, m), vshrq_n_s32(r_, 31)), nsh);                        \
    r_ = vminq_s32(vmaxq_s32(vaddq_n_s32(r_, zp), lo), hi)
    const int32_t full = valid >= 4 * n ? n : n - 1;
    int32_t k;
    for (k = full; k > 0; --k, s += 8, o += step) {
        EQ_DWP_RQ_SUM(s);
        vstrbq_scatter_offset_s32(o, ooffs, r_);
    }
    if (full < n) {
        EQ_DWP_RQ_SUM(s);
        vstrbq_scatter_offset_p_s32(o, ooffs, r_, vctp32q((uint32_t)(valid - 4 * full)));
    }
#undef EQ_DWP_RQ_SUM
}

/* eq_mve_dwp_rq_sums for the two rows of a pass at once (sums interleaved per group, outputs row_out apart): one
 * loop and one tail for both. */
static inline __attribute__((always_inline)) void eq_mve_dwp_rq_sums2(const int32_t *s, int32_t n, int32_t valid,
                                                                      int8_t *o, int32_t row_out, int32_t step,
                                                                      uint32x4_t ooffs, int32_t bias, int32_t m,
                                                                      int32_t nsh, int32_t zp, int32x4_t lo,
                                                                      int32x4_t hi)
{
#define EQ_DWP_RQ_SUM(r_, s_)                                                                              \
    int32x4_t r_ = vaddq_n_s32(vldrwq_s32(s_), bias);                                                      \
    r_ = vrshlq_n_s32(vaddq_s32(vqrdmulhq_n_s32(r_, m), vshrq_n_s32(r_, 31)), nsh);                        \
    r_ = vminq_s32(vmaxq_s32(vaddq_n_s32(r_, zp), lo), hi)
    const int32_t full = valid >= 4 * n ? n : n - 1;
    int32_t k;
    for (k = full; k > 0; --k, s += 8, o += step) {
        EQ_DWP_RQ_SUM(r0_, s);
        vstrbq_scatter_offset_s32(o, ooffs, r0_);
        EQ_DWP_RQ_SUM(r1_, s + 4);
        vstrbq_scatter_offset_s32(o + row_out, ooffs, r1_);
    }
    if (full < n) {
        const mve_pred16_t t = vctp32q((uint32_t)(valid - 4 * full));
        EQ_DWP_RQ_SUM(r0_, s);
        EQ_DWP_RQ_SUM(r1_, s + 4);
        vstrbq_scatter_offset_p_s32(o, ooffs, r0_, t);
        vstrbq_scatter_offset_p_s32(o + row_out, ooffs, r1_, t);
    }
#undef EQ_DWP_RQ_SUM
}

/* Four stored sums requantized. */
static inline __attribute__((always_inline)) int32x4_t eq_mve_dwp_rq4(const int32_t *s, int32_t bias, int32_t m,
                                                                      int32_t nsh, int32_t zp, int32x4_t lo,
                                                                      int32x4_t hi)
{
    int32x4_t r = vaddq_n_s32(vldrwq_s32(s), bias);
    r = vrshlq_n_s32(vaddq_s32(vqrdmulhq_n_s32(r, m), vshrq_n_s32(r, 31)), nsh);
    return vminq_s32(vmaxq_s32(vaddq_n_s32(r, zp), lo), hi);
}

static __attribute__((noinline)) void eq_mve_dwp_3x3_asm(const edgeq_conv_params *p, const eq_dwp_geom *g, const int8_t *x, int32_t c,
                               int8_t *restrict out)
{
    EQ_MVE_DWP_SETUP;
    int32_t sums[2 * 8 * EQ_DWP_CHUNK];
    const int8_t *f = p->filter + c;
    const int32_t wl = g->w_lane, wr = g->w_row;
    const int32_t w0 = f[0], w1 = f[wl], w2 = f[2 * wl], w3 = f[wr], w4 = f[wr + wl], w5 = f[wr + 2 * wl];
    const int32_t w6 = f[2 * wr], w7 = f[2 * wr + wl], w8 = f[2 * wr + 2 * wl];
    int32_t j, i, k;
    for (j = 0; j < g->n_rows; j += 2, x += 2 * Q) {
        const int32_t two = j + 1 < g->n_rows;
        int8_t *o0 = out + (size_t)j * g->row_out;
        if (two && n_lanes <= 4 * EQ_DWP_CHUNK) { /* rows of one chunk: several row pairs per asm loop */
            const int32_t n = (n_lanes + 3) >> 2, skip = 2 * Q - 4 * n, rest = (g->n_rows - j) >> 1;
            const int32_t P = rest < 2 * EQ_DWP_CHUNK / n ? rest : 2 * EQ_DWP_CHUNK / n;
            int32_t pp = P;
            register const int8_t *rxp __asm__("r0") = x + (3 * Q >> 1);
            register int32_t *ra __asm__("r1") = sums;
            register int32_t rw0 __asm__("r2") = w0, rw1 __asm__("r3") = w1, rw2 __asm__("r4") = w2;
            register int32_t rw3 __asm__("r5") = w3, rw4 __asm__("r6") = w4, rw5 __asm__("r8") = w5;
            register int32_t rw6 __asm__("r10") = w6, rw7 __asm__("r11") = w7, rw8 __asm__("r12") = w8;
            switch (Q) {
                EQ_DWP_ASM_MCASE(32);
                EQ_DWP_ASM_MCASE(64);
                default:
                    break;
            }
            for (k = 0; k < P; ++k, o0 += 2 * g->row_out) {
                eq_mve_dwp_rq_sums2(sums + 8 * n * k, n, n_lanes, o0 + c, g->row_out, 4 * g->lane_out, ooffs, bias, m,
                                    nsh, zp, lo, hi);
            }
            j += 2 * (P - 1);
            x += 2 * Q * (P - 1);
            continue;
        }
        for (i = 0; i < n_lanes; i += 4 * EQ_DWP_CHUNK) {
            const int32_t n = n_lanes - i > 4 * EQ_DWP_CHUNK ? EQ_DWP_CHUNK : (n_lanes - i + 3) >> 2;
            /* pinned: GCC finds no registers for these eleven operands by itself; the pointer must be a low
             * register (VLDRB.S32) */
            register const int8_t *rxp __asm__("r0") = x + i + (3 * Q >> 1);
            register int32_t *ra __asm__("r1") = sums;
            register int32_t rw0 __asm__("r2") = w0, rw1 __asm__("r3") = w1, rw2 __asm__("r4") = w2;
            register int32_t rw3 __asm__("r5") = w3, rw4 __asm__("r6") = w4, rw5 __asm__("r8") = w5;
            register int32_t rw6 __asm__("r10") = w6, rw7 __asm__("r11") = w7, rw8 __asm__("r12") = w8;
            switch (Q) {
                EQ_DWP_ASM_CASE(32);
                EQ_DWP_ASM_CASE(64);
                default:
                    break;
            }
            {
                int8_t *oc = o0 + (size_t)i * g->lane_out + c;
                if (two) {
                    eq_mve_dwp_rq_sums2(sums, n, n_lanes - i, oc, g->row_out, 4 * g->lane_out, ooffs, bias, m, nsh,
                                        zp, lo, hi);
                } else {
                    eq_mve_dwp_rq_sums(sums, n, n_lanes - i, oc, 4 * g->lane_out, ooffs, bias, m, nsh, zp, lo, hi);
                }
            }
        }
    }
}
/* Narrow maps (n_lanes <= 6: VWW's 6x6x128 and 3x3x256): row pitch 8 and one asm loop whose iteration is a pair of
 * output rows (one or two groups of four lanes per row, the second group's lanes 6, 7 read the next plane row and
 * are never stored): per two rows of six outputs 24 VLDRB.S32 + 36 VMUL/VMLA + 4 VSTRW + ADDS + LE. */
#define EQ_DWP_ASM_LDG(q_, r_, t_, g_) "vldrb.s32 " q_ ", [%[xp], #(" #r_ "*8+" #t_ "+4*" #g_ "-12)]\n\t"
#define EQ_DWP_ASM_GROUP2(g_, A, B)                                                                        \
    EQ_DWP_ASM_LDG("q0", 0, 0, g_) "vmul.i32 " A ", q0, %[w0]\n\t"                                         \
    EQ_DWP_ASM_LDG("q1", 0, 1, g_) EQ_DWP_ASM_MAC(A, "q1", "w1")                                           \
    EQ_DWP_ASM_LDG("q2", 0, 2, g_) EQ_DWP_ASM_MAC(A, "q2", "w2")                                           \
    EQ_DWP_ASM_LDG("q0", 1, 0, g_) EQ_DWP_ASM_MAC(A, "q0", "w3") "vmul.i32 " B ", q0, %[w0]\n\t"           \
    EQ_DWP_ASM_LDG("q1", 1, 1, g_) EQ_DWP_ASM_MAC(A, "q1", "w4") EQ_DWP_ASM_MAC(B, "q1", "w1")             \
    EQ_DWP_ASM_LDG("q2", 1, 2, g_) EQ_DWP_ASM_MAC(A, "q2", "w5") EQ_DWP_ASM_MAC(B, "q2", "w2")             \
    EQ_DWP_ASM_LDG("q0", 2, 0, g_) EQ_DWP_ASM_MAC(A, "q0", "w6") EQ_DWP_ASM_MAC(B, "q0", "w3")             \
    EQ_DWP_ASM_LDG("q1", 2, 1, g_) EQ_DWP_ASM_MAC(A, "q1", "w7") EQ_DWP_ASM_MAC(B, "q1", "w4")             \
    EQ_DWP_ASM_LDG("q2", 2, 2, g_) EQ_DWP_ASM_MAC(A, "q2", "w8") EQ_DWP_ASM_MAC(B, "q2", "w5")             \
    EQ_DWP_ASM_LDG("q0", 3, 0, g_) EQ_DWP_ASM_MAC(B, "q0", "w6")                                           \
    EQ_DWP_ASM_LDG("q1", 3, 1, g_) EQ_DWP_ASM_MAC(B, "q1", "w7")                                           \
    EQ_DWP_ASM_LDG("q2", 3, 2, g_) EQ_DWP_ASM_MAC(B, "q2", "w8")
/* Channels in eq_mve_dw_planar's block from c0 (as many planes as EDGEQ_DW_PLANAR_BYTES holds). */
static inline int32_t eq_dwp_block(const edgeq_conv_params *p, int32_t plane, int32_t c0)
{
    const int32_t cb = EDGEQ_DW_PLANAR_BYTES / plane < p->in_c ? EDGEQ_DW_PLANAR_BYTES / plane : p->in_c;
    return p->in_c - c0 < cb ? p->in_c - c0 : cb;
}

/* A block of channels at once (their planes rows * Q bytes apart): per-channel calls' overheads (frame, vector
 * constants, weight loads, branches) dominated on VWW's 6x6 and 3x3 maps. The weights of up to EQ_DWQ_CH channels
 * are packed nine words per channel and one asm loop runs over those channels, an LDM loading each one's nine
 * weights, its row pairs (G groups each) and the odd last row; then a plain C loop requantizes the stored sums.
 * Returns 0 (nothing done) when one channel's sums exceed the buffer (maps taller than 24 rows for 5-6 lanes, 48
 * for 1-4): eq_mve_dwp_3x3 runs on the same planes then. */
#ifndef EDGEQ_DW_SUMS_BYTES
/* stack for the raw sums of the block loops below: one channel needs n_rows * ceil(n_lanes / 4) * 16 bytes (a run
 * takes as many channels as fit, up to 6 or 4); larger than 768 grows the deepest stack of the planar path */
#define EDGEQ_DW_SUMS_BYTES 768
#endif
#define EQ_DWQ_SUMS (EDGEQ_DW_SUMS_BYTES / 4) /* words of sums per asm run */
#define EQ_DWQ_CH 6     /* channels per asm run at most */
#define EQ_DWP_ASM_ROW1(g_)                                                                                \
    EQ_DWP_ASM_LDG("q0", 0, 0, g_) "vmul.i32 q3, q0, %[w0]\n\t"                                            \
    EQ_DWP_ASM_LDG("q1", 0, 1, g_) EQ_DWP_ASM_MAC("q3", "q1", "w1")                                        \
    EQ_DWP_ASM_LDG("q2", 0, 2, g_) EQ_DWP_ASM_MAC("q3", "q2", "w2")                                        \
    EQ_DWP_ASM_LDG("q0", 1, 0, g_) EQ_DWP_ASM_MAC("q3", "q0", "w3")                                        \
    EQ_DWP_ASM_LDG("q1", 1, 1, g_) EQ_DWP_ASM_MAC("q3", "q1", "w4")                                        \
    EQ_DWP_ASM_LDG("q2", 1, 2, g_) EQ_DWP_ASM_MAC("q3", "q2", "w5")                                        \
    EQ_DWP_ASM_LDG("q0", 2, 0, g_) EQ_DWP_ASM_MAC("q3", "q0", "w6")                                        \
    EQ_DWP_ASM_LDG("q1", 2, 1, g_) EQ_DWP_ASM_MAC("q3", "q1", "w7")                                        \
    EQ_DWP_ASM_LDG("q2", 2, 2, g_) EQ_DWP_ASM_MAC("q3", "q2", "w8")
/* channel loop: LDM of the weights, the row pairs (count in [np]), the odd row's G groups (count in [no]; WLS skips
 * a zero count), the pointer on to the next plane ([skip]), the channel count in memory ([k]) */
#define EQ_DWQ_ASM(PAIR_BODY, PAIR_STORES, ODD_BODY)                                                       \
    __asm__ volatile("2:\n\t"                                                                              \
                     "ldm %[wp]!, {r2, r3, r4, r5, r6, r8, r10, r11, r12}\n\t"                             \
                     "ldr lr, %[np]\n\t"                                                                   \
                     "wls lr, lr, 3f\n"                                                                    \
                     "1:\n\t" PAIR_BODY "adds %[xp], %[xp], #16\n\t" PAIR_STORES "le lr, 1b\n"             \
                     "3:\n\t"                                                                              \
                     "ldr lr, %[no]\n\t"                                                                   \
                     "wls lr, lr, 5f\n"                                                                    \
                     "4:\n\t" ODD_BODY "adds %[xp], %[xp], #4\n\t"                                         \
                     "vstrw.32 q3, [%[a]], #16\n\t"                                                        \
                     "le lr, 4b\n"                                                                         \
                     "5:\n\t"                                                                              \
                     "ldr lr, %[skip]\n\t"                                                                 \
                     "add %[xp], %[xp], lr\n\t"                                                            \
                     "ldr lr, %[k]\n\t"                                                                    \
                     "subs lr, lr, #1\n\t"                                                                 \
                     "str lr, %[k]\n\t"                                                                    \
                     "bne 2b\n\t"                                                                          \
                     : [xp] "+r"(rxp), [a] "+r"(ra), [wp] "+r"(rwp), [k] "+m"(kk), [w0] "=&r"(rw0),       \
                       [w1] "=&r"(rw1), [w2] "=&r"(rw2), [w3] "=&r"(rw3), [w4] "=&r"(rw4), [w5] "=&r"(rw5),\
                       [w6] "=&r"(rw6), [w7] "=&r"(rw7), [w8] "=&r"(rw8)                                   \
                     : [np] "m"(np), [no] "m"(no), [skip] "m"(skip)                                        \
                     : "q0", "q1", "q2", "q3", "q4", "q5", "q6", "lr", "cc", "memory")
static __attribute__((noinline)) int eq_mve_dwp_3x3_q8_blk(const edgeq_conv_params *p, const eq_dwp_geom *g,
                                                          const int8_t *x, int32_t c0, int8_t *restrict out)
{
    int32_t sums[EQ_DWQ_SUMS] EDGEQ_ALIGNED(8), wb[9 * EQ_DWQ_CH];
    const int32_t n_lanes = g->n_lanes, G = n_lanes > 4 ? 2 : 1, np = g->n_rows >> 1, odd = g->n_rows & 1;
    const int32_t plane = g->rows * g->Q, nc = eq_dwp_block(p, plane, c0), no = odd * G;
    const int32_t skip = plane - 16 * np - 4 * no, per = (np * 8 + odd * 4) * G;
    const int32_t wl = g->w_lane, wr = g->w_row, row_out = g->row_out, step = 4 * g->lane_out, zp = p->out_offset;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const uint32x4_t ooffs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)g->lane_out);
    const mve_pred16_t tail = vctp32q((uint32_t)(n_lanes - 4 * (G - 1))); /* the lanes of a row's last group */
    const int32_t K = EQ_DWQ_SUMS / per < EQ_DWQ_CH ? EQ_DWQ_SUMS / per : EQ_DWQ_CH;
    int32_t cb, k, j;
    if (K < 1) {
        return 0;
    }
    for (cb = 0; cb < nc; cb += K, x += (size_t)K * plane) {
        const int32_t kn = nc - cb < K ? nc - cb : K;
        int32_t kk = kn;
        for (k = 0; k < kn; ++k) {
            const int8_t *f = p->filter + c0 + cb + k, *f1 = f + wr, *f2 = f + 2 * wr;
            int32_t *w = wb + 9 * k;
            w[0] = f[0], w[1] = f[wl], w[2] = f[2 * wl], w[3] = f1[0], w[4] = f1[wl], w[5] = f1[2 * wl];
            w[6] = f2[0], w[7] = f2[wl], w[8] = f2[2 * wl];
        }
        {
            register const int8_t *rxp __asm__("r0") = x + 12;
            register int32_t *ra __asm__("r1") = sums;
            register const int32_t *rwp __asm__("r9") = wb;
            register int32_t rw0 __asm__("r2"), rw1 __asm__("r3"), rw2 __asm__("r4"), rw3 __asm__("r5");
            register int32_t rw4 __asm__("r6"), rw5 __asm__("r8"), rw6 __asm__("r10"), rw7 __asm__("r11");
            register int32_t rw8 __asm__("r12");
            if (G == 2) {
                EQ_DWQ_ASM(EQ_DWP_ASM_GROUP2(0, "q3", "q4") EQ_DWP_ASM_GROUP2(1, "q5", "q6"),
                           "vstrw.32 q4, [%[a], #16]\n\t"
                           "vstrw.32 q5, [%[a], #32]\n\t"
                           "vstrw.32 q6, [%[a], #48]\n\t"
                           "vstrw.32 q3, [%[a]], #64\n\t",
                           EQ_DWP_ASM_ROW1(0));
            } else {
                EQ_DWQ_ASM(EQ_DWP_ASM_GROUP2(0, "q3", "q4"),
                           "vstrw.32 q4, [%[a], #16]\n\t"
                           "vstrw.32 q3, [%[a]], #32\n\t",
                           EQ_DWP_ASM_ROW1(0));
            }
            (void)rw0, (void)rw1, (void)rw2, (void)rw3, (void)rw4, (void)rw5, (void)rw6, (void)rw7, (void)rw8;
        }
        for (k = 0; k < kn; ++k) {
            const int32_t c = c0 + cb + k, bias = p->bias_eff[c], m = p->rq[3 * c], nsh = -p->rq[3 * c + 2];
            const int32_t *s = sums + per * k;
            int8_t *o = out + c;
            for (j = 0; j < np; ++j, o += 2 * row_out) {
                if (G == 2) {
                    vstrbq_scatter_offset_s32(o, ooffs, eq_mve_dwp_rq4(s, bias, m, nsh, zp, lo, hi));
                    vstrbq_scatter_offset_s32(o + row_out, ooffs, eq_mve_dwp_rq4(s + 4, bias, m, nsh, zp, lo, hi));
                    vstrbq_scatter_offset_p_s32(o + step, ooffs, eq_mve_dwp_rq4(s + 8, bias, m, nsh, zp, lo, hi),
                                                tail);
                    vstrbq_scatter_offset_p_s32(o + row_out + step, ooffs,
                                                eq_mve_dwp_rq4(s + 12, bias, m, nsh, zp, lo, hi), tail);
                    s += 16;
                } else {
                    vstrbq_scatter_offset_p_s32(o, ooffs, eq_mve_dwp_rq4(s, bias, m, nsh, zp, lo, hi), tail);
                    vstrbq_scatter_offset_p_s32(o + row_out, ooffs, eq_mve_dwp_rq4(s + 4, bias, m, nsh, zp, lo, hi),
                                                tail);
                    s += 8;
                }
            }
            if (odd) {
                if (G == 2) {
                    vstrbq_scatter_offset_s32(o, ooffs, eq_mve_dwp_rq4(s, bias, m, nsh, zp, lo, hi));
                    vstrbq_scatter_offset_p_s32(o + step, ooffs, eq_mve_dwp_rq4(s + 4, bias, m, nsh, zp, lo, hi),
                                                tail);
                } else {
                    vstrbq_scatter_offset_p_s32(o, ooffs, eq_mve_dwp_rq4(s, bias, m, nsh, zp, lo, hi), tail);
                }
            }
        }
    }
    return 1;
}
#undef EQ_DWQ_ASM
#undef EQ_DWP_ASM_ROW1
/* The same for wider maps whose plane rows are 32 bytes apart (7 to 28 lanes: KWS's 25x5 maps as 5 rows of 25 lanes,
 * VWW's 12x12): one asm loop over up to EQ_DWW_CH channels, each its nine weights by one LDM, its row pairs n groups of
 * four lanes at a time (EQ_DWP_ASM_BODY2) and its odd last row, then one requantization loop. Returns 0 (nothing
 * done) when one channel's sums exceed the buffer (more than 220 outputs, counting the lanes up to a multiple of 4
 * per row). */
#define EQ_DWW_SUMS (EDGEQ_DW_SUMS_BYTES / 4 + 28) /* words of sums per asm run (frame as eq_mve_dwp_3x3_asm's) */
#define EQ_DWW_CH 4     /* channels per asm run at most */
#define EQ_DWP_ASM_ROW1Q(QC)                                                                               \
    EQ_DWP_ASM_LD("q0", QC, 0, 0) "vmul.i32 q3, q0, %[w0]\n\t"                                             \
    EQ_DWP_ASM_LD("q1", QC, 0, 1) EQ_DWP_ASM_MAC("q3", "q1", "w1")                                         \
    EQ_DWP_ASM_LD("q2", QC, 0, 2) EQ_DWP_ASM_MAC("q3", "q2", "w2")                                         \
    EQ_DWP_ASM_LD("q0", QC, 1, 0) EQ_DWP_ASM_MAC("q3", "q0", "w3")                                         \
    EQ_DWP_ASM_LD("q1", QC, 1, 1) EQ_DWP_ASM_MAC("q3", "q1", "w4")                                         \
    EQ_DWP_ASM_LD("q2", QC, 1, 2) EQ_DWP_ASM_MAC("q3", "q2", "w5")                                         \
    EQ_DWP_ASM_LD("q0", QC, 2, 0) EQ_DWP_ASM_MAC("q3", "q0", "w6")                                         \
    EQ_DWP_ASM_LD("q1", QC, 2, 1) EQ_DWP_ASM_MAC("q3", "q1", "w7")                                         \
    EQ_DWP_ASM_LD("q2", QC, 2, 2) EQ_DWP_ASM_MAC("q3", "q2", "w8")
/* per channel: LDM, the row pairs (count [np], pairs left in [pn]; [ps] from the end of a pair's n groups to the
 * next pair), the odd row's groups ([no]; WLS skips a zero count), [skip] on to the next plane, channels left in [k] */
#define EQ_DWW_ASM(QC)                                                                                     \
    __asm__ volatile("2:\n\t"                                                                              \
                     "ldm %[wp]!, {r2, r3, r4, r5, r6, r8, r10, r11, r12}\n\t"                             \
                     "ldr lr, %[np]\n\t"                                                                   \
                     "cmp lr, #0\n\t"                                                                      \
                     "beq 3f\n\t"                                                                          \
                     "str lr, %[pn]\n"                                                                     \
                     "6:\n\t"                                                                              \
                     "ldr lr, %[n]\n\t"                                                                    \
                     "dls lr, lr\n"                                                                        \
                     "1:\n\t" EQ_DWP_ASM_BODY2(QC) "le lr, 1b\n\t"                                          \
                     "ldr lr, %[ps]\n\t"                                                                   \
                     "add %[xp], %[xp], lr\n\t"                                                            \
                     "ldr lr, %[pn]\n\t"                                                                   \
                     "subs lr, lr, #1\n\t"                                                                 \
                     "str lr, %[pn]\n\t"                                                                   \
                     "bne 6b\n"                                                                            \
                     "3:\n\t"                                                                              \
                     "ldr lr, %[no]\n\t"                                                                   \
                     "wls lr, lr, 5f\n"                                                                    \
                     "4:\n\t" EQ_DWP_ASM_ROW1Q(QC) "adds %[xp], %[xp], #4\n\t"                             \
                     "vstrw.32 q3, [%[a]], #16\n\t"                                                        \
                     "le lr, 4b\n"                                                                         \
                     "5:\n\t"                                                                              \
                     "ldr lr, %[skip]\n\t"                                                                 \
                     "add %[xp], %[xp], lr\n\t"                                                            \
                     "ldr lr, %[k]\n\t"                                                                    \
                     "subs lr, lr, #1\n\t"                                                                 \
                     "str lr, %[k]\n\t"                                                                    \
                     "bne 2b\n\t"                                                                          \
                     : [xp] "+r"(rxp), [a] "+r"(ra), [wp] "+r"(rwp), [k] "+m"(kk), [pn] "+m"(pn),          \
                       [w0] "=&r"(rw0), [w1] "=&r"(rw1), [w2] "=&r"(rw2), [w3] "=&r"(rw3), [w4] "=&r"(rw4), \
                       [w5] "=&r"(rw5), [w6] "=&r"(rw6), [w7] "=&r"(rw7), [w8] "=&r"(rw8)                  \
                     : [np] "m"(np), [n] "m"(n), [ps] "m"(ps), [no] "m"(no), [skip] "m"(skip)              \
                     : "q0", "q1", "q2", "q3", "q4", "lr", "cc", "memory")
static __attribute__((noinline)) int eq_mve_dwp_3x3_wblk(const edgeq_conv_params *p, const eq_dwp_geom *g,
                                                        const int8_t *x, int32_t c0, int8_t *restrict out)
{
    int32_t sums[EQ_DWW_SUMS] EDGEQ_ALIGNED(8), wb[9 * EQ_DWW_CH];
    const int32_t Q = g->Q, n_lanes = g->n_lanes, n = (n_lanes + 3) >> 2, np = g->n_rows >> 1, odd = g->n_rows & 1;
    const int32_t plane = g->rows * Q, nc = eq_dwp_block(p, plane, c0), no = odd * n, ps = 2 * Q - 4 * n;
    const int32_t skip = plane - 2 * Q * np - 4 * no;
    const int32_t per = (2 * np + odd) * n * 4;
    const int32_t wl = g->w_lane, wr = g->w_row, row_out = g->row_out, step = 4 * g->lane_out, zp = p->out_offset;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const uint32x4_t ooffs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)g->lane_out);
    const mve_pred16_t tail = vctp32q((uint32_t)(n_lanes - 4 * (n - 1))); /* the lanes of a row's last group */
    const int32_t K = EQ_DWW_SUMS / per < EQ_DWW_CH ? EQ_DWW_SUMS / per : EQ_DWW_CH;
    int32_t cb, k, j, i;
    if (K < 1 || Q != 32) {
        return 0;
    }
    for (cb = 0; cb < nc; cb += K, x += (size_t)K * plane) {
        const int32_t kn = nc - cb < K ? nc - cb : K;
        int32_t kk = kn, pn = 0;
        for (k = 0; k < kn; ++k) {
            const int8_t *f = p->filter + c0 + cb + k, *f1 = f + wr, *f2 = f + 2 * wr;
            int32_t *w = wb + 9 * k;
            w[0] = f[0], w[1] = f[wl], w[2] = f[2 * wl], w[3] = f1[0], w[4] = f1[wl], w[5] = f1[2 * wl];
            w[6] = f2[0], w[7] = f2[wl], w[8] = f2[2 * wl];
        }
        {
            register const int8_t *rxp __asm__("r0") = x + (3 * Q >> 1);
            register int32_t *ra __asm__("r1") = sums;
            register const int32_t *rwp __asm__("r9") = wb;
            register int32_t rw0 __asm__("r2"), rw1 __asm__("r3"), rw2 __asm__("r4"), rw3 __asm__("r5");
            register int32_t rw4 __asm__("r6"), rw5 __asm__("r8"), rw6 __asm__("r10"), rw7 __asm__("r11");
            register int32_t rw8 __asm__("r12");
            EQ_DWW_ASM(32);
            (void)rw0, (void)rw1, (void)rw2, (void)rw3, (void)rw4, (void)rw5, (void)rw6, (void)rw7, (void)rw8;
        }
        for (k = 0; k < kn; ++k) {
            const int32_t c = c0 + cb + k, bias = p->bias_eff[c], m = p->rq[3 * c], nsh = -p->rq[3 * c + 2];
            const int32_t *s = sums + per * k;
            int8_t *o = out + c, *oi;
            for (j = 0; j < np; ++j, o += 2 * row_out) {
                for (i = 1, oi = o; i < n; ++i, s += 8, oi += step) {
                    vstrbq_scatter_offset_s32(oi, ooffs, eq_mve_dwp_rq4(s, bias, m, nsh, zp, lo, hi));
                    vstrbq_scatter_offset_s32(oi + row_out, ooffs, eq_mve_dwp_rq4(s + 4, bias, m, nsh, zp, lo, hi));
                }
                vstrbq_scatter_offset_p_s32(oi, ooffs, eq_mve_dwp_rq4(s, bias, m, nsh, zp, lo, hi), tail);
                vstrbq_scatter_offset_p_s32(oi + row_out, ooffs, eq_mve_dwp_rq4(s + 4, bias, m, nsh, zp, lo, hi),
                                            tail);
                s += 8;
            }
            if (odd) {
                for (i = 1, oi = o; i < n; ++i, s += 4, oi += step) {
                    vstrbq_scatter_offset_s32(oi, ooffs, eq_mve_dwp_rq4(s, bias, m, nsh, zp, lo, hi));
                }
                vstrbq_scatter_offset_p_s32(oi, ooffs, eq_mve_dwp_rq4(s, bias, m, nsh, zp, lo, hi), tail);
            }
        }
    }
    return 1;
}
#undef EQ_DWW_ASM
#undef EQ_DWP_ASM_ROW1Q
#undef EQ_DWP_ASM_GROUP2
#undef EQ_DWP_ASM_LDG
#undef EQ_DWP_ASM_CASE
#undef EQ_DWP_ASM_MCASE
#undef EQ_DWP_ASM_MULTI2
#undef EQ_DWP_ASM_BODY2
#undef EQ_DWP_ASM_PASS1
#undef EQ_DWP_ASM_PASS2
#undef EQ_DWP_ASM_OPS
#undef EQ_DWP_ASM_MAC
#undef EQ_DWP_ASM_LD
#endif

/* 3x3 stride 2 (both axes) from a plane whose rows hold the even padded positions then, from H, the odd ones: the
 * three taps of four outputs along a row are three VLDRB.S32 of consecutive bytes (even x, odd x, even x + 1), the
 * rows two plane rows apart. */
static void eq_mve_dwp_3x3_s2(const edgeq_conv_params *p, const eq_dwp_geom *g, const int8_t *x, int32_t c,
                              int8_t *restrict out)
{
    EQ_MVE_DWP_SETUP;
    const int8_t *f = p->filter + c;
    const int32_t wl = g->w_lane, wr = g->w_row, H = g->H;
    const int32_t w0 = f[0], w1 = f[wl], w2 = f[2 * wl], w3 = f[wr], w4 = f[wr + wl], w5 = f[wr + 2 * wl];
    const int32_t w6 = f[2 * wr], w7 = f[2 * wr + wl], w8 = f[2 * wr + 2 * wl];
    int32_t j, i;
    for (j = 0; j < g->n_rows; ++j, x += 2 * Q) {
        const int8_t *r0 = x, *r1 = x + Q, *r2 = x + 2 * Q;
        int8_t *o = out + (size_t)j * g->row_out;
        for (i = 0; i < n_lanes; i += 4) {
            int32x4_t a = vmulq_n_s32(vldrbq_s32(r0 + i), w0);
            a = vmlaq_n_s32(a, vldrbq_s32(r0 + H + i), w1);
            a = vmlaq_n_s32(a, vldrbq_s32(r0 + i + 1), w2);
            a = vmlaq_n_s32(a, vldrbq_s32(r1 + i), w3);
            a = vmlaq_n_s32(a, vldrbq_s32(r1 + H + i), w4);
            a = vmlaq_n_s32(a, vldrbq_s32(r1 + i + 1), w5);
            a = vmlaq_n_s32(a, vldrbq_s32(r2 + i), w6);
            a = vmlaq_n_s32(a, vldrbq_s32(r2 + H + i), w7);
            a = vmlaq_n_s32(a, vldrbq_s32(r2 + i + 1), w8);
            a = vaddq_n_s32(a, bias);
            EQ_MVE_DWP_STORE(a, i, o);
        }
    }
}

/* The same for any window (the taps in loops, weights loaded per tap), one row per pass. */
static void eq_mve_dwp_any(const edgeq_conv_params *p, const eq_dwp_geom *g, const int8_t *x, int32_t c,
                           int8_t *restrict out)
{
    EQ_MVE_DWP_SETUP;
    int32_t j, i, kr, kl;
    for (j = 0; j < g->n_rows; ++j, x += Q, out += g->row_out) {
        for (i = 0; i < n_lanes; i += 4) {
            int32x4_t acc = vdupq_n_s32(bias);
            for (kr = 0; kr < g->k_row; ++kr) {
                const int8_t *xr = x + kr * Q + i, *f = p->filter + (size_t)kr * g->w_row + c;
                for (kl = 0; kl < g->k_lane; ++kl, f += g->w_lane) {
                    acc = vmlaq_n_s32(acc, vldrbq_s32(xr + kl), *f);
                }
            }
            EQ_MVE_DWP_STORE(acc, i, out);
        }
    }
}
#undef EQ_MVE_DWP_SETUP
#undef EQ_MVE_DWP_STORE

/* Depthwise on Helium, channel-planar, stride 1: blocks of channels of the input are copied into the stack one padded
 * plane per channel (the input zero point in the padding: taps there add w * (zp + in_offset) == 0, like the taps
 * TFLM skips, so every window is full and uses bias_eff), then each channel runs over its output four pixels per
 * vector with its weights as scalars (VMLA by scalar: one load and one multiply-accumulate instruction per tap for
 * four MACs, where channels-as-lanes needs a VMUL and a VADD per pixel). Each input byte is copied once. The lanes
 * run along x, or along y where that fills the vectors better (KWS's 25x5 maps). Needs depth multiplier 1, stride 1,
 * no dilation, rq and one channel's padded plane within EDGEQ_DW_PLANAR_BYTES; returns 0 when it does not apply. */
static int eq_mve_dw_planar(const edgeq_conv_params *p, const int8_t *in, int8_t *restrict out)
{
    int8_t buf[EDGEQ_DW_PLANAR_BYTES + 16] EDGEQ_ALIGNED(4); /* + the bytes eq_mve_dwp_3x3_q8_blk reads past a plane */
    const int32_t C = p->in_c;
    /* share of the four-lane vectors that hold outputs, x as lanes vs y as lanes (x 10) */
    const int32_t fill_x = 10 * p->out_w / ((p->out_w + 3) & ~3), fill_y = 10 * p->out_h / ((p->out_h + 3) & ~3);
    const int32_t s2 = p->stride_w == 2 && p->stride_h == 2 && p->k_w == 3 && p->k_h == 3;
    eq_dwp_geom g;
    int32_t b, c0, c, plane, cb;
    if (fill_y > fill_x) { /* lanes along y */
        g = (eq_dwp_geom){p->out_h, p->out_w, p->out_w * C, C, p->k_h, p->k_w, p->k_w * C, C,
                          p->in_h, p->in_w, p->pad_h, p->pad_w, p->in_w * C, C, 0, 0, 0, 0};
    } else {
        g = (eq_dwp_geom){p->out_w, p->out_h, C, p->out_w * C, p->k_w, p->k_h, C, p->k_w * C,
                          p->in_w, p->in_h, p->pad_w, p->pad_h, C, p->in_w * C, 0, 0, 0, 0};
    }
    g.Qc = g.Q = (((g.n_lanes + 3) & ~3) + g.k_lane - 1 + 7) & ~7;
    g.rows = g.n_rows + g.k_row - 1;
    if (s2) { /* even positions 0 .. n_lanes (rounded up to 4), then the odd ones */
        g.H = (((g.n_lanes + 3) & ~3) + 1 + 7) & ~7;
        g.Qc = g.Q = 2 * g.H;
        g.rows = 2 * g.n_rows + 1;
    }
#ifdef EQ_DWP_ASM
    if (!s2 && g.k_lane == 3 && g.k_row == 3) { /* the hand-written 3x3 loops' row pitches: 8 (narrow maps), 32, 64 */
        int32_t q = 32; /* not 16: eq_mve_dwp_3x3_wblk's one asm loop for up to 28 lanes */
        while (q < g.Q) {
            q *= 2;
        }
        if (g.n_lanes <= 6) { /* eq_mve_dwp_3x3_q8_blk: rows 8 bytes apart (the lanes past 8 read the next row) */
            g.Qc = g.Q = 8;
        } else if (q <= 64 && g.rows * q <= EDGEQ_DW_PLANAR_BYTES) {
            g.Q = q;
        }
    }
#endif
    plane = g.rows * g.Q;
    cb = EDGEQ_DW_PLANAR_BYTES / plane < C ? EDGEQ_DW_PLANAR_BYTES / plane : C;
    /* Measured on MLPerf Tiny (instructions per layer): maps whose vectors are less than 70 % full run faster on
     * eq_mve_dw_padded (channels as lanes). Stride 2 only 3x3, where a block holds two planes or more and the
     * vectors are full (VWW: the 24x24x32 -> 12x12 layer 137k -> 111k instructions; its 48x48x16 -> 24x24, one
     * plane per block, 254k -> 287k: the copy's per-row overheads; 12x12x64 -> 6x6 86k -> 89k, 6x6x128 -> 3x3 59k ->
     * 56k). Gather offsets and lane positions are int16. */
    if (p->depth_mult != 1 || p->dil_h != 1 || p->dil_w != 1 || !p->rq ||
        ((p->stride_w != 1 || p->stride_h != 1) && !s2) ||
        (fill_x < 7 && fill_y < 7) || cb < 1 || (s2 && (cb < 2 || (fill_x < 10 && fill_y < 10))) || (int32_t)g.in_lanes * g.lane_in > 32767 || g.Q + g.pad_lane > 32767) {
        return 0;
    }
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * C;
        int8_t *out_b = out + (size_t)b * p->out_h * p->out_w * C;
        for (c0 = 0; c0 < C; c0 += cb) {
            const int32_t nc = C - c0 < cb ? C - c0 : cb;
            eq_mve_dwp_copy(p, &g, in_b, c0, nc, plane, buf);
#ifdef EQ_DWP_ASM
            if (!s2 && g.k_lane == 3 && g.k_row == 3 &&
                (g.Q == 8 ? eq_mve_dwp_3x3_q8_blk(p, &g, buf, c0, out_b)
                          : g.Q == 32 && eq_mve_dwp_3x3_wblk(p, &g, buf, c0, out_b))) {
                continue;
            }
#endif
            for (c = 0; c < nc; ++c) {
                if (s2) {
                    eq_mve_dwp_3x3_s2(p, &g, buf + (size_t)c * plane, c0 + c, out_b);
                } else if (g.k_lane == 3 && g.k_row == 3) {
#ifdef EQ_DWP_ASM
                    if (g.Q == 32 || g.Q == 64) {
                        eq_mve_dwp_3x3_asm(p, &g, buf + (size_t)c * plane, c0 + c, out_b);
                        continue;
                    }
#endif
                    eq_mve_dwp_3x3(p, &g, buf + (size_t)c * plane, c0 + c, out_b);
                } else {
                    eq_mve_dwp_any(p, &g, buf + (size_t)c * plane, c0 + c, out_b);
                }
            }
        }
    }
    return 1;
}

int edgeq_dw_mve(const edgeq_conv_params *p, const int8_t *in, int8_t *out)
{
    return eq_mve_dw_planar(p, in, out) || eq_mve_dw_padded(p, in, out);
}

#else
typedef int edgeq_dwconv_mve_unused; /* ISO C: a translation unit is not empty */
#endif
