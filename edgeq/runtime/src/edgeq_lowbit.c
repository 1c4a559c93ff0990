/* edgeq runtime: 4-, 2- and 1-bit weights for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (see edgeq_lowbit.h
 * for the storage contract).
 *
 * Exactness: the int8 weight of index j is value(j) (affine a + s * j, or a table entry), so every accumulator is
 * the int8 kernels' one: bias_eff[c] + sum_k w[c][k] * x[k] over an im2col column whose out-of-image taps hold the
 * input zero point (they add w * (zp + in_offset) == 0, like the taps TFLM skips). Affine channels compute
 * sum_k (a + s j_k) x_k = a * sum(x) + s * sum(j_k x_k): the column sum is shared by all channels and the index dot
 * product runs on the small unsigned indices. All sums wrap modulo 2^32 like the int32 sums of the reference
 * kernels, hence the same int32 and, through the same requantization, the same bytes as tflite-micro.
 *
 * Speed (DSP path): CONV_2D layers that fit run the int8 kernel on chunks of channels decoded into its int16
 * weight layout, large depthwise layers the int8 depthwise kernel on chunks of channels (see the functions); what
 * follows is the packed path of the other layers.
 * Speed: the columns of a block of output pixels are gathered once (1x1 convolutions without padding and FC read
 * the input in place) and every channel runs over them, its table / affine data set up once per block; per group
 * of 4 taps two pair codes become two words of int16 weight pairs through a table of 2^(2 * bits) words built once
 * per call, met by the input pairs in SMLADs on the DSP path (Cortex-M4/M7/M33, or -DEDGEQ_EMULATE_DSP; the columns
 * sign-extended once per block for all channels, the row decoded once, four pixels per pass in inline assembly),
 * the same table with scalar multiplies in plain C. Channels with different tables (k-means per channel) rebuild
 * the pair table when the table changes (1 and 2 bits) or read their 16-entry table per weight (4 bits). Small
 * depthwise layers decode their weights on the stack and run the int8 depthwise kernel.
 */
#include "edgeq_lowbit.h"

#include "edgeq_dsp.h"

#include <string.h>

/* q: the parameters of layer p from output channel c0 on (the per-channel arrays offset, per-tensor ones as they
 * are); the int8 kernels then run a chunk of channels. For edgeq_conv2d_params and edgeq_conv_params alike. */
#define EQ_LB_FROM_CHANNEL(q, p, c0)                                  \
    do {                                                              \
        (q).bias = (p)->bias ? (p)->bias + (c0) : NULL;               \
        (q).bias_eff = (p)->bias_eff ? (p)->bias_eff + (c0) : NULL;   \
        (q).rq = (p)->rq ? (p)->rq + 3 * (c0) : NULL;                 \
        if ((p)->per_channel) {                                       \
            (q).mult = (p)->mult ? (p)->mult + (c0) : NULL;           \
            (q).shift = (p)->shift ? (p)->shift + (c0) : NULL;        \
        }                                                             \
    } while (0)

#define EQ_LB_DW_TAPS 64 /* depthwise kernels up to 8x8 decode their taps once per channel */

typedef edgeq_lowbit_weights eq_lw;

#ifdef EDGEQ_DSP
#define EQ_LB_X16_WORDS 512 /* 2 KiB of stack: int16 columns of 4+ pixels, at most 64 groups of 4 taps */
#endif

typedef struct {
    int32_t pt[256]; /* pair code -> {value(j0), value(j1)} as int16 halves (low: j0) */
#ifdef EDGEQ_DSP
    int32_t *wrow; /* the weight pairs of one row (int16-column path; the caller's EQ_LB_X16_WORDS / 4 words) */
#endif
    int32_t pt_tab;  /* the table pt was built from; -1 none, -2 the indices themselves (affine) */
    int32_t use_pt;  /* 0: 4-bit channels with different tables read their table per weight */
} eq_lb_ctx;

/* Index of tap k in a CONV_2D / FC row: pair code 2 * (k / 4) + (k & 1), first or second index of the pair. */
static inline int32_t eq_lb_row_j(const uint8_t *row, int32_t k, int32_t bits)
{
    const int32_t q = 2 * (k >> 2) + (k & 1);
    const int32_t bit = q * 2 * bits + ((k >> 1) & 1) * bits;
    return (row[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1);
}

/* A channel's affine a and s. */
static inline void eq_lb_affine(const eq_lw *lw, int32_t c, int32_t *a, int32_t *s)
{
    if (lw->sym_h >= 0) {
        *s = lw->affine[c];
        *a = -((*s * lw->sym_h) >> 1);
    } else {
        *a = (int8_t)lw->affine[2 * c];
        *s = lw->affine[2 * c + 1];
    }
}

static inline int32_t eq_lb_value(const eq_lw *lw, int32_t c, int32_t j)
{
    if (lw->affine) {
        int32_t a, s;
        eq_lb_affine(lw, c, &a, &s);
        return a + s * j;
    }
    return lw->tables[((lw->tab_idx ? (int32_t)lw->tab_idx[c] : 0) << lw->bits) + j];
}

static inline int32_t eq_lb_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* pt[j0 | j1 << bits] = {v0, v1} with v = tab[j] (tab NULL: v = j). */
static void eq_lb_pairs(int32_t *pt, int32_t bits, const int8_t *tab)
{
    const int32_t n = 1 << bits;
    int32_t j0, j1;
    for (j1 = 0; j1 < n; ++j1) {
        const int32_t v1 = tab ? tab[j1] : j1;
        for (j0 = 0; j0 < n; ++j0) {
            const int32_t v0 = tab ? tab[j0] : j0;
            pt[j0 | (j1 << bits)] = (int32_t)(((uint32_t)v0 & 0xffffu) | ((uint32_t)v1 << 16));
        }
    }
}

static void eq_lb_init(eq_lb_ctx *s, const eq_lw *lw)
{
    s->pt_tab = -1;
    s->use_pt = 1;
    if (lw->affine) {
        eq_lb_pairs(s->pt, lw->bits, NULL);
        s->pt_tab = -2;
    } else if (lw->tab_idx && lw->bits == 4) {
        s->use_pt = 0;
    }
}

#if defined(__GNUC__)
#define EQ_LB_INLINE static inline __attribute__((always_inline))
#define EQ_LB_NOINLINE static __attribute__((noinline)) /* separate stack frames for the two CONV_2D paths */
#else
#define EQ_LB_INLINE static inline
#define EQ_LB_NOINLINE static
#endif

/* The two pair codes of group g of a row. */
EQ_LB_INLINE void eq_lb_codes(const uint8_t *row, int32_t g, int32_t bits, uint32_t *c0, uint32_t *c1)
{
    if (bits == 4) {
        *c0 = row[2 * g];
        *c1 = row[2 * g + 1];
    } else if (bits == 2) {
        const uint32_t v = row[g];
        *c0 = v & 15u;
        *c1 = v >> 4;
    } else {
        const uint32_t v = (uint32_t)row[g >> 1] >> ((g & 1) * 4);
        *c0 = v & 3u;
        *c1 = (v >> 2) & 3u;
    }
}

/* acc + the 4 taps of one group: weight pairs w0 = {w[k], w[k+2]}, w1 = {w[k+1], w[k+3]}, inputs xg[0..3]. */
EQ_LB_INLINE int32_t eq_lb_mac4(int32_t w0, int32_t w1, const int8_t *xg, int32_t acc)
{
#ifdef EDGEQ_DSP
    const int32_t xv = eq_load32(xg);
    acc = eq_smlad(w0, eq_sxtb16(xv), acc);
    return eq_smlad(w1, eq_sxtb16_ror8(xv), acc);
#else
    return acc + (int32_t)(int16_t)w0 * xg[0] + (w0 >> 16) * xg[2] + (int32_t)(int16_t)w1 * xg[1] +
           (w1 >> 16) * xg[3];
#endif
}

/* acc[p] = sum over the `groups` whole groups of 4 taps of pt-weight * x[p], for np (1..4) pixels: each pair code
 * is looked up once for all pixels. */
EQ_LB_INLINE void eq_lb_dotn(const uint8_t *row, const int8_t *const *x, int32_t np, int32_t groups,
                             const int32_t *pt, int32_t bits, int32_t *acc)
{
    int32_t g, q;
    if (np == 4) {
        const int8_t *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (g = 0; g < groups; ++g) {
            uint32_t c0, c1;
            int32_t w0, w1;
            eq_lb_codes(row, g, bits, &c0, &c1);
            w0 = pt[c0];
            w1 = pt[c1];
            a0 = eq_lb_mac4(w0, w1, x0 + 4 * g, a0);
            a1 = eq_lb_mac4(w0, w1, x1 + 4 * g, a1);
            a2 = eq_lb_mac4(w0, w1, x2 + 4 * g, a2);
            a3 = eq_lb_mac4(w0, w1, x3 + 4 * g, a3);
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        return;
    }
    for (q = 0; q < np; ++q) {
        const int8_t *xq = x[q];
        int32_t a = 0;
        for (g = 0; g < groups; ++g) {
            uint32_t c0, c1;
            eq_lb_codes(row, g, bits, &c0, &c1);
            a = eq_lb_mac4(pt[c0], pt[c1], xq + 4 * g, a);
        }
        acc[q] = a;
    }
}

static void eq_lb_dot_b4(const uint8_t *row, const int8_t *const *x, int32_t np, int32_t groups, const int32_t *pt,
                         int32_t *acc)
{
    eq_lb_dotn(row, x, np, groups, pt, 4, acc);
}
static void eq_lb_dot_b2(const uint8_t *row, const int8_t *const *x, int32_t np, int32_t groups, const int32_t *pt,
                         int32_t *acc)
{
    eq_lb_dotn(row, x, np, groups, pt, 2, acc);
}
static void eq_lb_dot_b1(const uint8_t *row, const int8_t *const *x, int32_t np, int32_t groups, const int32_t *pt,
                         int32_t *acc)
{
    eq_lb_dotn(row, x, np, groups, pt, 1, acc);
}

#ifdef EDGEQ_DSP
/* Four pixels' columns sign-extended once per block and shared by every channel: per group of 4 taps and pixel the
 * words {x[k], x[k+2]}, {x[k+1], x[k+3]} (what SXTB16 / SXTB16 ROR #8 make of the input word). Per group: two pair
 * codes, two table words, eight SMLADs on the four pixels. */

/* The row's weight pairs, two words per group, decoded once per channel and block. */
EQ_LB_INLINE void eq_lb_decode_row(const uint8_t *row, int32_t groups, const int32_t *pt, int32_t bits, int32_t *w)
{
    int32_t g;
    for (g = 0; g < groups; ++g) {
        uint32_t c0, c1;
        eq_lb_codes(row, g, bits, &c0, &c1);
        w[2 * g] = pt[c0];
        w[2 * g + 1] = pt[c1];
    }
}

static void eq_lb_dot4_x16(const int32_t *w, const int32_t *xs, int32_t groups, int32_t *acc)
{
    int32_t g, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#if defined(EDGEQ_DSP_ASM)
    /* GCC interleaves single loads; as written: per group one LDRD of the weights and two LDMs of two pixels' pairs
     * (pipelined loads), eight SMLADs. */
    if (groups > 0) {
        int32_t w0, w1;
        g = groups;
        __asm__ volatile("1:\n\t"
                         "ldrd %[w0], %[w1], [%[w]], #8\n\t"
                         "ldmia %[xs]!, {r8, r9, r10, r11}\n\t"
                         "smlad %[a0], %[w0], r8, %[a0]\n\t"
                         "smlad %[a0], %[w1], r9, %[a0]\n\t"
                         "smlad %[a1], %[w0], r10, %[a1]\n\t"
                         "smlad %[a1], %[w1], r11, %[a1]\n\t"
                         "ldmia %[xs]!, {r8, r9, r10, r11}\n\t"
                         "smlad %[a2], %[w0], r8, %[a2]\n\t"
                         "smlad %[a2], %[w1], r9, %[a2]\n\t"
                         "smlad %[a3], %[w0], r10, %[a3]\n\t"
                         "smlad %[a3], %[w1], r11, %[a3]\n\t"
                         "subs %[g], %[g], #1\n\t"
                         "bne 1b\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [xs] "+r"(xs),
                           [g] "+r"(g), [w0] "=&r"(w0), [w1] "=&r"(w1)
                         :
                         : "r8", "r9", "r10", "r11", "cc", "memory");
    }
#else
    for (g = 0; g < groups; ++g, xs += 8, w += 2) {
        const int32_t w0 = w[0], w1 = w[1];
        a0 = eq_smlad(w1, xs[1], eq_smlad(w0, xs[0], a0));
        a1 = eq_smlad(w1, xs[3], eq_smlad(w0, xs[2], a1));
        a2 = eq_smlad(w1, xs[5], eq_smlad(w0, xs[4], a2));
        a3 = eq_smlad(w1, xs[7], eq_smlad(w0, xs[6], a3));
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
static void eq_lb_decode_b4(const uint8_t *row, int32_t groups, const int32_t *pt, int32_t *w)
{
    eq_lb_decode_row(row, groups, pt, 4, w);
}
static void eq_lb_decode_b2(const uint8_t *row, int32_t groups, const int32_t *pt, int32_t *w)
{
    eq_lb_decode_row(row, groups, pt, 2, w);
}
static void eq_lb_decode_b1(const uint8_t *row, int32_t groups, const int32_t *pt, int32_t *w)
{
    eq_lb_decode_row(row, groups, pt, 1, w);
}

/* xs for the n pixels x[0..n) (n rounded up to 4 with zero columns), groups whole groups of 4 taps. */
static void eq_lb_extend(const int8_t *const *x, int32_t n, int32_t groups, int32_t *xs)
{
    int32_t q0, q, g;
    for (q0 = 0; q0 < n; q0 += 4) {
        for (q = 0; q < 4; ++q) {
            int32_t *d = xs + (size_t)q0 * groups * 2 + 2 * q;
            if (q0 + q < n) {
                const int8_t *xq = x[q0 + q];
                for (g = 0; g < groups; ++g, d += 8) {
                    const int32_t xv = eq_load32(xq + 4 * g);
                    d[0] = eq_sxtb16(xv);
                    d[1] = eq_sxtb16_ror8(xv);
                }
            } else {
                for (g = 0; g < groups; ++g, d += 8) {
                    d[0] = 0;
                    d[1] = 0;
                }
            }
        }
    }
}
#endif

/* out[q * out_stride] = requant(bias_eff[c] + sum_k w[c][k] * x[q][k]) for the n pixels x[0..n) of a block, channel
 * c (wrapping int32 sums): the channel's table / affine data set up once per block, then 4 pixels per pass over its
 * row; sumx[q] = sum_k x[q][k] (affine only). requant(acc, c) is the op's requantization. */
typedef int8_t (*eq_lb_rq_fn)(const void *p, int32_t acc, int32_t c);

EQ_LB_INLINE void eq_lb_block(eq_lb_ctx *s, const eq_lw *lw, int32_t c, const int8_t *const *x, const int32_t *xs,
                        int32_t n, int32_t K, const int32_t *sumx, int32_t bias, eq_lb_rq_fn rq, const void *p,
                        int8_t *out, size_t out_stride)
{
    const int32_t bits = lw->bits, groups = K >> 2;
    const uint8_t *row = lw->codes + (size_t)c * (size_t)lw->row_bytes;
    const int8_t *tab = NULL;
    uint32_t av = 0, sc = 1;
    int32_t k, q, q0, k0 = 4 * groups;
    if (lw->affine) {
        int32_t a_, s_;
        eq_lb_affine(lw, c, &a_, &s_);
        av = (uint32_t)a_;
        sc = (uint32_t)s_;
    } else {
        const int32_t t = lw->tab_idx ? (int32_t)lw->tab_idx[c] : 0;
        tab = lw->tables + (t << bits);
        if (s->use_pt && s->pt_tab != t) {
            eq_lb_pairs(s->pt, bits, tab);
            s->pt_tab = t;
        }
    }
    if (!s->use_pt) {
        k0 = 0;
    }
    for (q0 = 0; q0 < n; q0 += 4) {
        const int32_t np = n - q0 < 4 ? n - q0 : 4;
        int32_t acc[4] = {0, 0, 0, 0};
#ifdef EDGEQ_DSP
        if (xs) { /* s->use_pt; the row decoded at the first sub-block */
            if (q0 == 0) {
                if (bits == 4) {
                    eq_lb_decode_b4(row, groups, s->pt, s->wrow);
                } else if (bits == 2) {
                    eq_lb_decode_b2(row, groups, s->pt, s->wrow);
                } else {
                    eq_lb_decode_b1(row, groups, s->pt, s->wrow);
                }
            }
            eq_lb_dot4_x16(s->wrow, xs + (size_t)q0 * groups * 2, groups, acc);
        } else
#else
        (void)xs;
#endif
        if (s->use_pt) {
            if (bits == 4) {
                eq_lb_dot_b4(row, x + q0, np, groups, s->pt, acc);
            } else if (bits == 2) {
                eq_lb_dot_b2(row, x + q0, np, groups, s->pt, acc);
            } else {
                eq_lb_dot_b1(row, x + q0, np, groups, s->pt, acc);
            }
        }
        for (q = 0; q < np; ++q) {
            const int8_t *xq = x[q0 + q];
            int32_t a = acc[q];
            if (k0 < K) {
                for (k = k0; k < K; ++k) {
                    const int32_t j = eq_lb_row_j(row, k, bits);
                    a += (tab ? tab[j] : j) * xq[k];
                }
            }
            if (lw->affine) {
                a = (int32_t)(av * (uint32_t)sumx[q0 + q] + sc * (uint32_t)a);
            }
            out[(size_t)(q0 + q) * out_stride] = rq(p, eq_lb_add(bias, a), c);
        }
    }
}

static inline int32_t eq_lb_sum(const int8_t *x, int32_t K)
{
    int32_t k, s = 0;
    for (k = 0; k < K; ++k) {
        s += x[k];
    }
    return s;
}

/* ------------------------------------------------------------------------------------------------ CONV_2D */

/* With rq the output zero point is already in rq[1] (edgeq_conv.h). */
static inline int8_t eq_lb_cv_out(const edgeq_conv2d_params *p, int32_t acc, int32_t c)
{
    int32_t v;
    if (p->rq) {
        v = eq_rq_fast(acc, p->rq + 3 * c);
    } else {
        const int32_t i = p->per_channel ? c : 0;
        v = edgeq_mbqm(acc, p->mult[i], (int)p->shift[i]) + p->out_offset;
    }
    return (int8_t)edgeq_clamp(v, p->act_min, p->act_max);
}

static int8_t eq_lb_cv_rq(const void *p, int32_t acc, int32_t c)
{
    return eq_lb_cv_out((const edgeq_conv2d_params *)p, acc, c);
}

static void eq_lb_block_cv(eq_lb_ctx *s, const eq_lw *lw, int32_t c, const int8_t *const *x, const int32_t *xs,
                           int32_t n, int32_t K, const int32_t *sumx, const edgeq_conv2d_params *p, int8_t *out)
{
    eq_lb_block(s, lw, c, x, xs, n, K, sumx, p->bias_eff[c], eq_lb_cv_rq, p, out, (size_t)p->out_c);
}

/* Windows larger than the column buffer: one tap at a time, out-of-image taps as the zero point. */
static int32_t eq_lb_conv_slow(const edgeq_conv2d_params *p, const eq_lw *lw, const int8_t *in_b, int32_t iy0,
                               int32_t ix0, int32_t c)
{
    const int8_t pad = (int8_t)(-p->in_offset);
    const uint8_t *row = lw->codes + (size_t)c * (size_t)lw->row_bytes;
    int32_t ky, kx, i, k = 0, acc = p->bias_eff[c];
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + p->dil_h * ky;
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + p->dil_w * kx;
            const int inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
            const int8_t *src = inside ? in_b + ((size_t)iy * p->in_w + ix) * p->in_c : NULL;
            for (i = 0; i < p->in_c; ++i, ++k) {
                const int32_t xv = src ? src[i] : pad;
                acc = eq_lb_add(acc, eq_lb_value(lw, c, eq_lb_row_j(row, k, lw->bits)) * xv);
            }
        }
    }
    return acc;
}

#define EQ_LB_BLOCK 64 /* output pixels per block: each channel's setup is shared by them */

#if defined(EDGEQ_DSP) && defined(EDGEQ_CONV_W16)
/* DSP path: a chunk of output channels is decoded once per call into the int16 weight layout the generator emits
 * for the int8 op (w16, edgeq_conv.h: per block of B = 2 channels (windows up to EDGEQ_X16_WORDS taps, or up to
 * twice that with in_c a multiple of 4, which edgeq_conv.c runs in chunks of K) and group of 4 taps, per channel
 * the words {w[k], w[k+2]}, {w[k+1], w[k+3]}),
 * and the int8 kernel (edgeq_conv2d) runs on it for a few output rows at a time into a small buffer, scattered into
 * the output's channels: the packed layer costs the int8 layer's cycles plus one decode per weight and one copy per
 * output byte. A pair code {j[k], j[k+2]} / {j[k+1], j[k+3]} is exactly one such word: the pair table's entry
 * (tables), or, affine, from the index pair {j0, j1} (as j0 + 65536 j1): times s plus (a + 128) * 65537 gives the
 * halves w + 128 in 0..255 (w = a + s j is an int8 weight; no carry between the halves), whose bytes XOR 0x80 are
 * the int8 weights, sign-extended by SXTB16. */
#ifndef EDGEQ_LOWBIT_W16_BYTES
#define EDGEQ_LOWBIT_W16_BYTES 4096 /* stack: decoded int16 weights of one channel chunk */
#endif
#ifndef EDGEQ_LOWBIT_OUT_BYTES
#define EDGEQ_LOWBIT_OUT_BYTES 1024 /* stack: the chunk's outputs of a few rows / pixels */
#endif

/* Layers of fewer output pixels use each decoded weight too few times (a 1x1 image: the packed loop, ~3.8 est.
 * cycles per MAC on MobileNetV3's 1 x 1 x 432 -> 1024 layer, this path ~9.5). */
#define EQ_LB_W16_MIN_PIXELS 8

/* dst = channels c0..c0+nc of the packed row codes in the w16 layout with B-channel blocks (channels past nc and
 * taps past K zero). 1 and 2 bits: pair codes through a 4- or 16-word pair table pt (*pt_tab: the table it holds,
 * -2 the indices themselves); 4 bits: the two nibbles of a code byte directly. */
static void eq_lb_w16(const eq_lw *lw, int32_t c0, int32_t nc, int32_t K, int32_t B, int32_t *pt, int32_t *pt_tab,
                      int32_t *dst)
{
    const int32_t G = (K + 3) >> 2, bits = lw->bits, nb = (nc + B - 1) / B, r = K & 3, step = 2 * B;
    int32_t i, g;
    for (i = 0; i < nb * B; ++i) {
        int32_t *d = dst + (size_t)(i / B) * G * step + (i % B) * 2;
        const int32_t c = c0 + i;
        const uint8_t *row = lw->codes + (size_t)c * (size_t)lw->row_bytes;
        const int8_t *tab = NULL;
        uint32_t aa = 0, sc = 0;
        if (i >= nc) {
            for (g = 0; g < G; ++g, d += step) {
                d[0] = 0;
                d[1] = 0;
            }
            continue;
        }
        if (lw->affine) {
            int32_t a_, s_;
            eq_lb_affine(lw, c, &a_, &s_);
            aa = (uint32_t)(a_ + 128) * 65537u;
            sc = (uint32_t)s_;
            if (bits < 4 && *pt_tab != -2) {
                eq_lb_pairs(pt, bits, NULL);
                *pt_tab = -2;
            }
        } else {
            const int32_t t = lw->tab_idx ? (int32_t)lw->tab_idx[c] : 0;
            tab = lw->tables + (t << bits);
            if (bits < 4 && *pt_tab != t) {
                eq_lb_pairs(pt, bits, tab);
                *pt_tab = t;
            }
        }
        if (bits == 4) {
            if (lw->affine) {
                for (g = 0; g < G; ++g, d += step) {
                    const uint32_t k0 = row[2 * g], k1 = row[2 * g + 1];
                    const uint32_t i0 = (k0 & 15u) | ((k0 >> 4) << 16), i1 = (k1 & 15u) | ((k1 >> 4) << 16);
                    d[0] = eq_sxtb16((int32_t)((i0 * sc + aa) ^ 0x00800080u));
                    d[1] = eq_sxtb16((int32_t)((i1 * sc + aa) ^ 0x00800080u));
                }
            } else {
                for (g = 0; g < G; ++g, d += step) {
                    const uint32_t k0 = row[2 * g], k1 = row[2 * g + 1];
                    d[0] = (int32_t)(((uint32_t)(int32_t)tab[k0 & 15u] & 0xffffu) |
                                     ((uint32_t)(int32_t)tab[k0 >> 4] << 16));
                    d[1] = (int32_t)(((uint32_t)(int32_t)tab[k1 & 15u] & 0xffffu) |
                                     ((uint32_t)(int32_t)tab[k1 >> 4] << 16));
                }
            }
        } else if (lw->affine) {
            for (g = 0; g < G; ++g, d += step) {
                uint32_t k0, k1;
                eq_lb_codes(row, g, bits, &k0, &k1);
                d[0] = eq_sxtb16((int32_t)(((uint32_t)pt[k0] * sc + aa) ^ 0x00800080u));
                d[1] = eq_sxtb16((int32_t)(((uint32_t)pt[k1] * sc + aa) ^ 0x00800080u));
            }
        } else {
            for (g = 0; g < G; ++g, d += step) {
                uint32_t k0, k1;
                eq_lb_codes(row, g, bits, &k0, &k1);
                d[0] = pt[k0];
                d[1] = pt[k1];
            }
        }
        if (r) { /* taps k + r .. k + 3 of the last group are padding */
            d -= step;
            if (r == 1) {
                d[0] &= 0xffff;
                d[1] = 0;
            } else {
                d[1] &= 0xffff;
                if (r == 2) {
                    d[0] &= 0xffff;
                }
            }
        }
    }
}

/* 1 when the layer ran on the int8 kernel (its w16 layout fits), 0 otherwise. */
EQ_LB_NOINLINE int eq_lb_conv_w16(const edgeq_conv2d_params *p, const eq_lw *lw, const int8_t *in, int8_t *out)
{
    const int32_t K = p->k_h * p->k_w * p->in_c, K4 = (K + 3) & ~3, OC = p->out_c;
    const int32_t B = K4 <= EDGEQ_X16_WORDS || (K4 <= 2 * EDGEQ_X16_WORDS && (p->in_c & 3) == 0) ? 2 : 0;
    const size_t in_img = (size_t)p->in_h * p->in_w * p->in_c, out_img = (size_t)p->out_h * p->out_w * OC;
    int32_t wbuf[EDGEQ_LOWBIT_W16_BYTES / 4];
    int32_t obuf[EDGEQ_LOWBIT_OUT_BYTES / 4];
    int32_t pt[16], pt_tab = -1;
    int32_t nmax, c0, b, oy0, pix;
    if (!B || p->out_w <= 0 || p->batches * p->out_h * p->out_w < EQ_LB_W16_MIN_PIXELS) {
        return 0;
    }
    nmax = EDGEQ_LOWBIT_W16_BYTES / (2 * K4);
    if (nmax > EDGEQ_LOWBIT_OUT_BYTES / p->out_w) {
        nmax = EDGEQ_LOWBIT_OUT_BYTES / p->out_w;
    }
    nmax -= nmax % B;
    if (nmax < B) {
        return 0;
    }
    for (c0 = 0; c0 < OC; c0 += nmax) {
        const int32_t nc = OC - c0 < nmax ? OC - c0 : nmax;
        const int32_t rows = EDGEQ_LOWBIT_OUT_BYTES / (p->out_w * nc);
        /* 1x1 stride 1 without padding: the pixels as one row, chunks a multiple of 6 pixels (the int8 kernel's
         * blocks of 2 and 3 pixels) */
        const int32_t flat = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
                             p->pad_w == 0 && p->in_h == p->out_h && p->in_w == p->out_w;
        const int32_t npix = p->out_h * p->out_w;
        int32_t chunk = EDGEQ_LOWBIT_OUT_BYTES / nc;
        edgeq_conv2d_params q = *p;
        chunk = chunk >= 6 ? chunk - chunk % 6 : chunk;
        eq_lb_w16(lw, c0, nc, K, B, pt, &pt_tab, wbuf);
        q.batches = 1;
        q.out_c = nc;
        q.filter = NULL;
        q.w16 = wbuf;
        EQ_LB_FROM_CHANNEL(q, p, c0);
        for (b = 0; b < p->batches; ++b) {
            const int8_t *in_b = in + (size_t)b * in_img;
            int8_t *out_b = out + (size_t)b * out_img + c0;
            for (oy0 = 0; oy0 < (flat ? npix : p->out_h); oy0 += flat ? chunk : rows) {
                edgeq_conv2d_params r = q;
                const int8_t *src = in_b;
                int8_t *d;
                int32_t np;
                if (flat) { /* pixels oy0 .. oy0 + np */
                    np = npix - oy0 < chunk ? npix - oy0 : chunk;
                    r.in_h = r.out_h = 1;
                    r.in_w = r.out_w = np;
                    src = in_b + (size_t)oy0 * p->in_c;
                    d = out_b + (size_t)oy0 * OC;
                } else { /* output rows oy0 .. */
                    const int32_t iy = oy0 * p->stride_h - p->pad_h;
                    np = (p->out_h - oy0 < rows ? p->out_h - oy0 : rows) * p->out_w;
                    r.out_h = np / p->out_w;
                    d = out_b + (size_t)oy0 * p->out_w * OC;
                    if (iy >= 0) { /* the rows from iy on, nothing padded above */
                        src = in_b + (size_t)iy * p->in_w * p->in_c;
                        r.in_h = p->in_h - iy;
                        r.pad_h = 0;
                    } else {
                        r.pad_h = -iy;
                    }
                }
                edgeq_conv2d(&r, src, (int8_t *)obuf);
                if (!((nc | OC) & 3) && !((uintptr_t)d & 3)) { /* whole words */
                    const int32_t *o = obuf;
                    for (pix = 0; pix < np; ++pix, d += OC) {
                        int32_t *dw = (int32_t *)(void *)d;
                        int32_t i;
                        for (i = 0; i < nc >> 2; ++i) {
                            dw[i] = *o++;
                        }
                    }
                } else {
                    const int8_t *o = (const int8_t *)obuf;
                    for (pix = 0; pix < np; ++pix, o += nc, d += OC) {
                        memcpy(d, o, (size_t)nc);
                    }
                }
            }
        }
    }
    return 1;
}
#endif

EQ_LB_NOINLINE void eq_lb_conv_packed(const edgeq_conv2d_params *p, const eq_lw *lw, const int8_t *in, int8_t *out);

void edgeq_conv2d_lowbit(const edgeq_conv2d_params *p, const eq_lw *lw, const int8_t *in, int8_t *out)
{
#if defined(EDGEQ_DSP) && defined(EDGEQ_CONV_W16)
    if (eq_lb_conv_w16(p, lw, in, out)) {
        return;
    }
#endif
    eq_lb_conv_packed(p, lw, in, out);
}

/* The packed kernel: blocks of output pixels, every channel over their columns. */
EQ_LB_NOINLINE void eq_lb_conv_packed(const edgeq_conv2d_params *p, const eq_lw *lw, const int8_t *in, int8_t *out)
{
    const int32_t K = p->k_h * p->k_w * p->in_c;
    const int direct = p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0;
    /* pixels per block: read in place, or as many gathered columns as the buffer holds */
    const int32_t fit = EDGEQ_LOWBIT_COL_BYTES / K;
    const int32_t P0 = direct || fit > EQ_LB_BLOCK ? EQ_LB_BLOCK : fit;
    const int32_t npix = p->out_h * p->out_w;
    int8_t col[EDGEQ_LOWBIT_COL_BYTES];
    const int8_t *x[EQ_LB_BLOCK];
    int32_t sumx[EQ_LB_BLOCK];
    eq_lb_ctx s;
    int32_t b, pix, c, q;
    int32_t *xs = NULL;
    int32_t P = P0;
#ifdef EDGEQ_DSP
    int32_t xbuf[EQ_LB_X16_WORDS];
    int32_t wrow[EQ_LB_X16_WORDS / 4];
#endif
    eq_lb_init(&s, lw);
#ifdef EDGEQ_DSP
    s.wrow = wrow;
#endif
#ifdef EDGEQ_DSP
    { /* the int16 columns, when at least 4 pixels fit */
        const int32_t fit16 = (EQ_LB_X16_WORDS / (2 * (K >> 2) + 1)) & ~3;
        if (s.use_pt && K >= 4 && fit16 >= 4 && P >= 4) {
            xs = xbuf;
            P = P < fit16 ? P : fit16;
        }
    }
#endif
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = out + (size_t)b * npix * p->out_c;
        if (P == 0) { /* windows larger than the column buffer */
            for (pix = 0; pix < npix; ++pix) {
                const int32_t oy = pix / p->out_w, ox = pix % p->out_w;
                for (c = 0; c < p->out_c; ++c) {
                    out_b[(size_t)pix * p->out_c + c] = eq_lb_cv_out(
                        p, eq_lb_conv_slow(p, lw, in_b, oy * p->stride_h - p->pad_h, ox * p->stride_w - p->pad_w, c),
                        c);
                }
            }
            continue;
        }
        for (pix = 0; pix < npix; pix += P) {
            const int32_t np = npix - pix < P ? npix - pix : P;
            for (q = 0; q < np; ++q) {
                const int32_t oy = (pix + q) / p->out_w, ox = (pix + q) % p->out_w;
                const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
                if (direct) {
                    x[q] = in_b + ((size_t)iy0 * p->in_w + ix0) * p->in_c;
                } else {
                    eq_conv_taps(p, in_b, iy0, ix0, col + q * K);
                    x[q] = col + q * K;
                }
                sumx[q] = lw->affine ? eq_lb_sum(x[q], K) : 0;
            }
#ifdef EDGEQ_DSP
            if (xs) {
                eq_lb_extend(x, np, K >> 2, xs);
            }
#endif
            for (c = 0; c < p->out_c; ++c) {
                eq_lb_block_cv(&s, lw, c, x, xs, np, K, sumx, p, out_b + (size_t)pix * p->out_c + c);
            }
        }
    }
}

/* -------------------------------------------------------------------------------------- FULLY_CONNECTED */

static int8_t eq_lb_fc_rq(const void *pv, int32_t acc, int32_t o)
{
    const edgeq_fc_params *p = (const edgeq_fc_params *)pv;
    int32_t v;
    if (p->rq) {
        v = eq_rq_fast(acc, p->rq + 3 * o);
    } else {
        const int32_t i = p->per_channel ? o : 0;
        v = edgeq_mbqm(acc, p->mult[i], (int)p->shift[i]);
    }
    return (int8_t)edgeq_clamp(v + p->out_offset, p->act_min, p->act_max);
}

static void eq_lb_block_fc(eq_lb_ctx *s, const eq_lw *lw, int32_t o, const int8_t *const *x, int32_t n,
                           const int32_t *sumx, const edgeq_fc_params *p, int8_t *out)
{
    eq_lb_block(s, lw, o, x, NULL, n, p->in_depth, sumx, p->bias_eff[o], eq_lb_fc_rq, p, out, (size_t)p->out_depth);
}

/* The batch rows are the block's pixels (up to 4 per pass). */
void edgeq_fully_connected_lowbit(const edgeq_fc_params *p, const eq_lw *lw, const int8_t *in, int8_t *out)
{
    const int32_t K = p->in_depth;
    const int8_t *x[EQ_LB_BLOCK];
    int32_t sumx[EQ_LB_BLOCK];
    eq_lb_ctx s;
    int32_t b0, q, o;
    eq_lb_init(&s, lw);
    for (b0 = 0; b0 < p->batches; b0 += EQ_LB_BLOCK) {
        const int32_t n = p->batches - b0 < EQ_LB_BLOCK ? p->batches - b0 : EQ_LB_BLOCK;
        for (q = 0; q < n; ++q) {
            x[q] = in + (size_t)(b0 + q) * K;
            sumx[q] = lw->affine ? eq_lb_sum(x[q], K) : 0;
        }
        for (o = 0; o < p->out_depth; ++o) {
            eq_lb_block_fc(&s, lw, o, x, n, sumx, p, out + (size_t)b0 * p->out_depth + o);
        }
    }
}

/* ------------------------------------------------------------------------------------ DEPTHWISE_CONV_2D */

static inline int32_t eq_lb_dw_w(const eq_lw *lw, int32_t c, int32_t K, int32_t t)
{
    const int32_t bit = (c * K + t) * lw->bits;
    return eq_lb_value(lw, c, (lw->codes[bit >> 3] >> (bit & 7)) & ((1 << lw->bits) - 1));
}

/* Layers whose decoded weights fit EDGEQ_LOWBIT_DW_BYTES of stack run the int8 depthwise kernel on them: the int8
 * filter [k_h][k_w][out_c] and, for depth multiplier 1 and 4+ channels, its DSP layout dw_w (per group of 4 channels
 * and tap the int16 pairs {w[c], w[c+2]}, {w[c+1], w[c+3]}), exactly what the generator emits for the int8 op. */
#ifndef EDGEQ_LOWBIT_DW_BYTES
#define EDGEQ_LOWBIT_DW_BYTES 2304
#endif

/* Channels c0..c0+nc decoded: f8 [K][nc] int8 and, dw non-NULL, the DSP layout of their nc / 4 whole groups. */
static void eq_lb_dw_decode(const eq_lw *lw, int32_t K, int32_t c0, int32_t nc, int8_t *f8, int32_t *dw)
{
    const int32_t G = nc >> 2, bits = lw->bits, n = 1 << bits;
    const uint32_t mask = (uint32_t)n - 1u;
    int32_t c, t, g, j;
    for (c = 0; c < nc; ++c) { /* the channel's 2^bits values once, then its indices in stream order */
        const int32_t ch = c0 + c;
        size_t bit = (size_t)ch * (size_t)K * (size_t)bits;
        int32_t v[16];
        int8_t *d = f8 + c;
        if (lw->affine) {
            int32_t a, sc;
            eq_lb_affine(lw, ch, &a, &sc);
            for (j = 0; j < n; ++j) {
                v[j] = a + sc * j;
            }
        } else {
            const int8_t *tab = lw->tables + ((lw->tab_idx ? (int32_t)lw->tab_idx[ch] : 0) << bits);
            for (j = 0; j < n; ++j) {
                v[j] = tab[j];
            }
        }
        for (t = 0; t < K; ++t, bit += (size_t)bits, d += nc) { /* an index never straddles a byte */
            *d = (int8_t)v[((uint32_t)lw->codes[bit >> 3] >> (bit & 7u)) & mask];
        }
    }
    for (g = 0; dw && g < G; ++g) {
        for (t = 0; t < K; ++t) {
            const int8_t *w = f8 + (size_t)t * nc + 4 * g;
            int32_t *d = dw + ((size_t)g * K + t) * 2;
            d[0] = (int32_t)(((uint32_t)(int32_t)w[0] & 0xffffu) | ((uint32_t)(int32_t)w[2] << 16));
            d[1] = (int32_t)(((uint32_t)(int32_t)w[1] & 0xffffu) | ((uint32_t)(int32_t)w[3] << 16));
        }
    }
}

EQ_LB_NOINLINE int eq_lb_dw_int8(const edgeq_conv_params *p, const eq_lw *lw, const int8_t *in, int8_t *out)
{
    const int32_t K = p->k_h * p->k_w, OC = p->out_c, G = p->depth_mult == 1 ? OC >> 2 : 0;
    int32_t buf[EDGEQ_LOWBIT_DW_BYTES / 4];
    int8_t *f8;
    edgeq_conv_params q;
    if ((size_t)K * (size_t)G * 8u + (size_t)K * (size_t)OC > sizeof buf) {
        return 0;
    }
    f8 = (int8_t *)(buf + (size_t)K * G * 2);
    eq_lb_dw_decode(lw, K, 0, OC, f8, G ? buf : NULL);
    q = *p;
    q.filter = f8;
    q.dw_w = G ? buf : NULL;
    edgeq_depthwise_conv2d_s8(&q, in, out);
    return 1;
}

/* Larger layers (depth multiplier 1): the int8 depthwise kernel on chunks of 16, 8 or 4 channels and a few output
 * rows: the chunk's weights decoded once, the input rows its windows read copied to a buffer of those channels
 * (top padding kept as pad_h, rows past the input left out), its outputs scattered into the output's channels. */
#ifndef EDGEQ_LOWBIT_DWC_BYTES
#define EDGEQ_LOWBIT_DWC_BYTES 4096 /* stack: weights, input rows and outputs of one chunk */
#endif

static void eq_lb_copy_ch(int8_t *d, size_t dstep, const int8_t *s, size_t sstep, int32_t n, int32_t count)
{
    int32_t i, k;
    if (!(((uintptr_t)d | (uintptr_t)s | dstep | sstep | (size_t)n) & 3)) {
        for (i = 0; i < count; ++i, d += dstep, s += sstep) {
            for (k = 0; k < n; k += 4) {
                *(int32_t *)(void *)(d + k) = *(const int32_t *)(const void *)(s + k);
            }
        }
        return;
    }
    for (i = 0; i < count; ++i, d += dstep, s += sstep) {
        memcpy(d, s, (size_t)n);
    }
}

EQ_LB_NOINLINE int eq_lb_dw_chunks(const edgeq_conv_params *p, const eq_lw *lw, const int8_t *in, int8_t *out)
{
    const int32_t K = p->k_h * p->k_w, C = p->in_c, OC = p->out_c;
    const int32_t span_h = (p->k_h - 1) * p->dil_h;
    int32_t buf[EDGEQ_LOWBIT_DWC_BYTES / 4];
    int32_t nc, rows = 0, c0, b, oy0;
    if (p->depth_mult != 1 || C != OC || p->out_w <= 0) {
        return 0;
    }
    for (nc = 16; nc >= 4; nc >>= 1) { /* the most channels with at least one output row */
        for (rows = p->out_h; rows >= 1; --rows) {
            const int32_t rin = (rows - 1) * p->stride_h + span_h + 1;
            const int32_t need = 3 * K * nc + ((rin * p->in_w * nc + 3) & ~3) + rows * p->out_w * nc;
            if (need <= (int32_t)sizeof buf) {
                break;
            }
        }
        if (rows >= 1) {
            break;
        }
    }
    if (nc < 4) {
        return 0;
    }
    for (c0 = 0; c0 < OC; c0 += nc) {
        const int32_t ncc = OC - c0 < nc ? OC - c0 : nc, G = ncc >> 2;
        const int32_t rin = (rows - 1) * p->stride_h + span_h + 1;
        int32_t *dw = buf;
        int8_t *f8 = (int8_t *)(buf + (size_t)K * G * 2);
        int8_t *ib = f8 + ((K * ncc + 3) & ~3);
        int8_t *ob = ib + ((rin * p->in_w * ncc + 3) & ~3);
        edgeq_conv_params q = *p;
        eq_lb_dw_decode(lw, K, c0, ncc, f8, G ? dw : NULL);
        q.batches = 1;
        q.in_c = q.out_c = ncc;
        q.filter = f8;
        q.dw_w = G ? dw : NULL;
        EQ_LB_FROM_CHANNEL(q, p, c0);
        for (b = 0; b < p->batches; ++b) {
            const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * C + c0;
            int8_t *out_b = out + (size_t)b * p->out_h * p->out_w * OC + c0;
            for (oy0 = 0; oy0 < p->out_h; oy0 += rows) {
                const int32_t nr = p->out_h - oy0 < rows ? p->out_h - oy0 : rows;
                const int32_t iy_a = oy0 * p->stride_h - p->pad_h;
                const int32_t iy_b = (oy0 + nr - 1) * p->stride_h - p->pad_h + span_h + 1;
                const int32_t lo = iy_a > 0 ? iy_a : 0, hi = iy_b < p->in_h ? iy_b : p->in_h;
                edgeq_conv_params r = q;
                if (hi <= lo) { /* no input row (padding only): not a shape TFLite makes */
                    return 0;
                }
                eq_lb_copy_ch(ib, (size_t)ncc, in_b + (size_t)lo * p->in_w * C, (size_t)C, ncc,
                              (hi - lo) * p->in_w);
                r.in_h = hi - lo;
                r.pad_h = lo - iy_a;
                r.out_h = nr;
                edgeq_depthwise_conv2d_s8(&r, ib, ob);
                eq_lb_copy_ch(out_b + (size_t)oy0 * p->out_w * OC, (size_t)OC, ob, (size_t)ncc, ncc, nr * p->out_w);
            }
        }
    }
    return 1;
}

/* Channel by channel: the channel's taps decoded once, then every output pixel; windows inside the input read their
 * taps at precomputed offsets, windows on the border substitute the zero point for the taps outside. */
void edgeq_depthwise_conv2d_lowbit(const edgeq_conv_params *p, const eq_lw *lw, const int8_t *in, int8_t *out)
{
    const int32_t K = p->k_h * p->k_w, C = p->in_c;
    const int32_t pad = -p->in_offset;
    const int small = K <= EQ_LB_DW_TAPS;
    const int32_t span_h = (p->k_h - 1) * p->dil_h, span_w = (p->k_w - 1) * p->dil_w;
    int32_t w[EQ_LB_DW_TAPS], off[EQ_LB_DW_TAPS];
    int32_t c, t, b, oy, ox, ky, kx;
    if (eq_lb_dw_int8(p, lw, in, out) || eq_lb_dw_chunks(p, lw, in, out)) {
        return;
    }
    for (t = 0; t < K && t < EQ_LB_DW_TAPS; ++t) {
        off[t] = ((t / p->k_w) * p->dil_h * p->in_w + (t % p->k_w) * p->dil_w) * C;
    }
    for (c = 0; c < p->out_c; ++c) {
        const int32_t ic = c / p->depth_mult, bias = p->bias_eff[c];
        int32_t wsum = 0;
        for (t = 0; t < K && t < EQ_LB_DW_TAPS; ++t) {
            w[t] = eq_lb_dw_w(lw, c, K, t);
            wsum += w[t];
        }
        for (b = 0; b < p->batches; ++b) {
            const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * C + ic;
            int8_t *out_c = out + (size_t)b * p->out_h * p->out_w * p->out_c + c;
            for (oy = 0; oy < p->out_h; ++oy) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h;
                const int rows_in = small && iy0 >= 0 && iy0 + span_h < p->in_h;
                for (ox = 0; ox < p->out_w; ++ox, out_c += p->out_c) {
                    const int32_t ix0 = ox * p->stride_w - p->pad_w;
                    int32_t acc = bias;
                    if (rows_in && ix0 >= 0 && ix0 + span_w < p->in_w) {
                        const int8_t *xb = in_b + ((size_t)iy0 * p->in_w + ix0) * C;
                        if (K == 9) {
                            acc += w[0] * xb[off[0]] + w[1] * xb[off[1]] + w[2] * xb[off[2]] + w[3] * xb[off[3]] +
                                   w[4] * xb[off[4]] + w[5] * xb[off[5]] + w[6] * xb[off[6]] + w[7] * xb[off[7]] +
                                   w[8] * xb[off[8]];
                        } else {
                            for (t = 0; t < K; ++t) {
                                acc += w[t] * xb[off[t]];
                            }
                        }
                    } else if (small) { /* the taps inside; those outside add w * (zp + in_offset) == 0 */
                        int32_t ky0, ky1, kx0, kx1, wv = 0;
                        eq_valid_taps(iy0, p->dil_h, p->k_h, p->in_h, &ky0, &ky1);
                        eq_valid_taps(ix0, p->dil_w, p->k_w, p->in_w, &kx0, &kx1);
                        for (ky = ky0; ky < ky1; ++ky) {
                            const int8_t *xr = in_b + ((size_t)(iy0 + p->dil_h * ky) * p->in_w + ix0) * C;
                            for (kx = kx0; kx < kx1; ++kx) {
                                const int32_t wt = w[ky * p->k_w + kx];
                                acc += wt * xr[(size_t)p->dil_w * kx * C];
                                wv += wt;
                            }
                        }
                        acc = eq_lb_add(acc, (int32_t)((uint32_t)pad * (uint32_t)(wsum - wv)));
                    } else {
                        t = 0;
                        for (ky = 0; ky < p->k_h; ++ky) {
                            const int32_t iy = iy0 + p->dil_h * ky;
                            const int row_in = iy >= 0 && iy < p->in_h;
                            for (kx = 0; kx < p->k_w; ++kx, ++t) {
                                const int32_t ix = ix0 + p->dil_w * kx;
                                const int32_t xv = row_in && ix >= 0 && ix < p->in_w
                                                       ? in_b[((size_t)iy * p->in_w + ix) * C]
                                                       : pad;
                                const int32_t wt = t < EQ_LB_DW_TAPS ? w[t] : eq_lb_dw_w(lw, c, K, t);
                                acc = eq_lb_add(acc, wt * xv);
                            }
                        }
                    }
                    *out_c = eq_requant(acc, p, c);
                }
            }
        }
    }
}
