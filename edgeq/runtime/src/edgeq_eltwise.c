/* edgeq runtime: elementwise ADD and MUL with broadcasting (see edgeq_core.h for the contract). */
#include "edgeq_dsp.h"
#include "edgeq_mve.h"

/* Walk the 6-D output densely; each input advances by its own (possibly zero) strides. */
#define EDGEQ_BINARY_LOOP(p, in1, in2, out, BODY)                                                          \
    do {                                                                                                   \
        int32_t d0, d1, d2, d3, d4, d5;                                                                    \
        const int32_t *n_ = (p)->dims;                                                                     \
        const int32_t *s1_ = (p)->in1_strides;                                                             \
        const int32_t *s2_ = (p)->in2_strides;                                                             \
        int8_t *o_ = (out);                                                                                \
        for (d0 = 0; d0 < n_[0]; ++d0)                                                                     \
            for (d1 = 0; d1 < n_[1]; ++d1)                                                                 \
                for (d2 = 0; d2 < n_[2]; ++d2)                                                             \
                    for (d3 = 0; d3 < n_[3]; ++d3)                                                         \
                        for (d4 = 0; d4 < n_[4]; ++d4) {                                                   \
                            const int8_t *a_ = (in1) + d0 * s1_[0] + d1 * s1_[1] + d2 * s1_[2] +          \
                                               d3 * s1_[3] + d4 * s1_[4];                                  \
                            const int8_t *b_ = (in2) + d0 * s2_[0] + d1 * s2_[1] + d2 * s2_[2] +          \
                                               d3 * s2_[3] + d4 * s2_[4];                                  \
                            for (d5 = 0; d5 < n_[5]; ++d5) {                                               \
                                const int32_t x1 = a_[d5 * s1_[5]];                                        \
                                const int32_t x2 = b_[d5 * s2_[5]];                                        \
                                BODY;                                                                      \
                            }                                                                              \
                        }                                                                                  \
    } while (0)

/* Same shapes (no broadcast): one flat loop instead of the 6-D walk. */
static int32_t eq_binary_flat(const edgeq_binary_params *p)
{
    int32_t d, n = 1;
    for (d = EDGEQ_MAX_DIMS - 1; d >= 0; --d) {
        if (p->dims[d] > 1 && (p->in1_strides[d] != n || p->in2_strides[d] != n)) {
            return 0;
        }
        n *= p->dims[d];
    }
    return n;
}

#define EDGEQ_FLAT_OR_BINARY_LOOP(p, in1, in2, out, BODY)                                                 \
    do {                                                                                                   \
        const int32_t flat_ = eq_binary_flat(p);                                                           \
        if (flat_ > 0) {                                                                                   \
            int32_t i_;                                                                                    \
            int8_t *o_ = (out);                                                                            \
            for (i_ = 0; i_ < flat_; ++i_) {                                                               \
                const int32_t x1 = (in1)[i_];                                                              \
                const int32_t x2 = (in2)[i_];                                                              \
                BODY;                                                                                      \
            }                                                                                              \
        } else {                                                                                           \
            EDGEQ_BINARY_LOOP(p, in1, in2, out, BODY);                                                     \
        }                                                                                                  \
    } while (0)

#ifndef EDGEQ_OVERRIDE_ADD_S8
/* Where out_rq is set, EDGEQ_ADD_LUT_X2 builds get doubled tables (edgeq_core.h): sums shift right by this (exact:
 * even) wherever the undoubled sum is used. */
#ifdef EDGEQ_ADD_LUT_X2
#define EQ_LUT_X2 1
#else
#define EQ_LUT_X2 0
#endif
/* Same-shape ADD with both tables and out_rq (the residual connections of ResNets): per element two table lookups,
 * one short requantization and the clamp. Helium does four elements per step (gathers into the tables). */
static __attribute__((noinline)) void eq_add_lut_rq(const edgeq_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n)
{
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t *rq = p->out_rq;
    int32_t i = 0;
#ifdef EDGEQ_MVE
    {
        const int32_t m = rq[0], c = rq[1], neg_e = -rq[2];
        const int32x4_t vlo = vdupq_n_s32(lo), vhi = vdupq_n_s32(hi);
        const int32_t *l1 = p->in1_lut, *l2 = p->in2_lut;
#define EQ_MVE_ADD4(x1_, x2_)                                                                              \
    do {                                                                                                   \
        const uint32x4_t o1_ = vreinterpretq_u32_s32(vaddq_n_s32((x1_), 128));                             \
        const uint32x4_t o2_ = vreinterpretq_u32_s32(vaddq_n_s32((x2_), 128));                             \
        const int32x4_t s_ = vaddq_s32(vldrwq_gather_shifted_offset_s32(l1, o1_),                          \
                                       vldrwq_gather_shifted_offset_s32(l2, o2_));                         \
        v = vaddq_s32(vqrdmulhq_n_s32(s_, m), vshrq_n_s32(s_, 31));                                        \
        v = vminq_s32(vmaxq_s32(vshlq_r_s32(vaddq_n_s32(v, c), neg_e), vlo), vhi);                         \
    } while (0)
#if defined(EDGEQ_ASM_REGS) && !defined(__OPTIMIZE_SIZE__) /* ten general registers */
        if (n >= 4) {
            /* EQ_MVE_ADD4's steps written out with post-incremented pointers and a low-overhead loop: 16
             * instructions per four elements (GCC's loop ~25: IC's residual ADDs 6.3 instructions an element) */
            const int8_t *a = in1, *b = in2;
            int8_t *o = out;
            const int32x4_t k = vdupq_n_s32(128), cv = vdupq_n_s32(c), ev = vdupq_n_s32(neg_e);
            __asm__ volatile("dls lr, %[n]\n\t"
                             "1:\n\t"
                             "vldrb.s32 q0, [%[a]], #4\n\t"
                             "vldrb.s32 q1, [%[b]], #4\n\t"
                             "vadd.i32 q0, q0, %q[k]\n\t"
                             "vadd.i32 q1, q1, %q[k]\n\t"
                             "vldrw.u32 q2, [%[l1], q0, uxtw #2]\n\t"
                             "vldrw.u32 q0, [%[l2], q1, uxtw #2]\n\t"
                             "vadd.i32 q2, q2, q0\n\t"
                             "vqrdmulh.s32 q1, q2, %[m]\n\t"
                             "vshr.s32 q2, q2, #31\n\t"
                             "vadd.i32 q2, q2, q1\n\t"
                             "vadd.i32 q2, q2, %q[c]\n\t"
                             "vshl.s32 q2, q2, %q[e]\n\t"
                             "vmax.s32 q2, q2, %q[lo]\n\t"
                             "vmin.s32 q2, q2, %q[hi]\n\t"
                             "vstrb.32 q2, [%[o]], #4\n\t"
                             "le lr, 1b"
                             : [a] "+l"(a), [b] "+l"(b), [o] "+l"(o)
                             : [n] "r"(n >> 2), [l1] "r"(l1), [l2] "r"(l2), [m] "r"(m), [k] "w"(k), [c] "w"(cv),
                               [e] "w"(ev), [lo] "w"(vlo), [hi] "w"(vhi)
                             : "q0", "q1", "q2", "lr", "memory");
            i = n & ~3;
        }
#else
        for (; i + 4 <= n; i += 4) { /* unpredicated: the tail below */
            int32x4_t v;
            EQ_MVE_ADD4(vldrbq_s32(in1 + i), vldrbq_s32(in2 + i));
            vstrbq_s32(out + i, v);
        }
#endif
        if (i < n) {
            const mve_pred16_t pr = vctp32q((uint32_t)(n - i));
            int32x4_t v; /* inactive lanes load 0: a valid table index, results not stored */
            EQ_MVE_ADD4(vldrbq_z_s32(in1 + i, pr), vldrbq_z_s32(in2 + i, pr));
            vstrbq_p_s32(out + i, v, pr);
        }
#undef EQ_MVE_ADD4
        return;
    }
#else
    {
        const int32_t *l1 = p->in1_lut + 128, *l2 = p->in2_lut + 128;
#if defined(EDGEQ_DSP_ASM) && defined(EDGEQ_ASM_REGS) && defined(EDGEQ_ADD_LUT_X2)
        if (lo == -128 && hi == 127 && n >= 4) {
            /* Four elements a pass, two at a time: four LDRSBs and the four table LDRs pipelined (9 cycles), per
             * element the sum (already the 2s of eq_rq_fast: doubled tables), its sign term, SMMLAR, shift and
             * SSAT (zero point folded into out_rq), then BFI and one STRH a pair: ~47 cycles per four elements
             * (the C loop: ~135). */
            const int8_t *a = in1, *b = in2;
            int8_t *o = out;
            int32_t k = n >> 2, t0, t1, t2, t3;
#define EQ_ADD_LUT2                                                                                        \
    "ldrsb %[t0], [%[a]], #1\n\t"                                                                            \
    "ldrsb %[t1], [%[b]], #1\n\t"                                                                            \
    "ldrsb %[t2], [%[a]], #1\n\t"                                                                            \
    "ldrsb %[t3], [%[b]], #1\n\t"                                                                            \
    "ldr %[t0], [%[l1], %[t0], lsl #2]\n\t"                                                                  \
    "ldr %[t1], [%[l2], %[t1], lsl #2]\n\t"                                                                  \
    "ldr %[t2], [%[l1], %[t2], lsl #2]\n\t"                                                                  \
    "ldr %[t3], [%[l2], %[t3], lsl #2]\n\t"                                                                  \
    "add %[t0], %[t0], %[t1]\n\t"                                                                            \
    "add %[t1], %[c], %[t0], asr #31\n\t"                                                                    \
    "smmlar %[t0], %[t0], %[m], %[t1]\n\t"                                                                   \
    "add %[t2], %[t2], %[t3]\n\t"                                                                            \
    "add %[t3], %[c], %[t2], asr #31\n\t"                                                                    \
    "smmlar %[t2], %[t2], %[m], %[t3]\n\t"                                                                   \
    "asr %[t0], %[t0], %[e]\n\t"                                                                             \
    "asr %[t2], %[t2], %[e]\n\t"                                                                             \
    "ssat %[t0], #8, %[t0]\n\t"                                                                              \
    "ssat %[t2], #8, %[t2]\n\t"                                                                              \
    "bfi %[t0], %[t2], #8, #8\n\t"                                                                           \
    "strh %[t0], [%[o]], #2\n\t"
            __asm__ volatile(".p2align 2\n"
                    "1:\n\t" EQ_ADD_LUT2 EQ_ADD_LUT2
                    "subs %[k], %[k], #1\n\t"
                    "bne 1b"
                    : [a] "+&r"(a), [b] "+&r"(b), [o] "+&r"(o), [k] "+&r"(k), [t0] "=&r"(t0), [t1] "=&r"(t1),
                      [t2] "=&r"(t2), [t3] "=&r"(t3)
                    : [l1] "r"(l1), [l2] "r"(l2), [m] "r"(rq[0]), [c] "r"(rq[1]), [e] "r"(rq[2])
                    : "cc", "memory");
#undef EQ_ADD_LUT2
            i = n & ~3;
        }
#endif
        for (; i < n; ++i) {
            int32_t v = eq_rq_fast((l1[in1[i]] + l2[in2[i]]) >> EQ_LUT_X2, rq);
            v = v < lo ? lo : v;
            out[i] = (int8_t)(v > hi ? hi : v);
        }
    }
#endif
}

void edgeq_add_s8(const edgeq_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    if (p->in1_lut && p->in2_lut) {
        /* Large tensors: the two input rescalings are table lookups (exact: they depend on q only). */
        const int32_t *l1 = p->in1_lut + 128, *l2 = p->in2_lut + 128;
        const int32_t flat = eq_binary_flat(p), x2_ = p->out_rq ? EQ_LUT_X2 : 0;
        if (p->out_rq && flat > 0) {
            eq_add_lut_rq(p, in1, in2, out, flat);
            return;
        }
        EDGEQ_FLAT_OR_BINARY_LOOP(p, in1, in2, out, {
            const int32_t r = edgeq_mbqm((l1[x1] + l2[x2]) >> x2_, p->out_mult, (int)p->out_shift) + p->out_offset;
            *o_++ = (int8_t)edgeq_clamp(r, p->act_min, p->act_max);
        });
        return;
    }
    EDGEQ_FLAT_OR_BINARY_LOOP(p, in1, in2, out, {
        const int32_t a = (int32_t)((uint32_t)(x1 + p->in1_offset) << p->left_shift);
        const int32_t b = (int32_t)((uint32_t)(x2 + p->in2_offset) << p->left_shift);
        const int32_t sum = edgeq_mbqm(a, p->in1_mult, (int)p->in1_shift) +
                            edgeq_mbqm(b, p->in2_mult, (int)p->in2_shift);
        const int32_t r = edgeq_mbqm(sum, p->out_mult, (int)p->out_shift) + p->out_offset;
        *o_++ = (int8_t)edgeq_clamp(r, p->act_min, p->act_max);
    });
}
#endif

#ifndef EDGEQ_OVERRIDE_MUL_S8
void edgeq_mul_s8(const edgeq_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    EDGEQ_FLAT_OR_BINARY_LOOP(p, in1, in2, out, {
        const int32_t prod = (x1 + p->in1_offset) * (x2 + p->in2_offset);
        const int32_t r = edgeq_mbqm(prod, p->out_mult, (int)p->out_shift) + p->out_offset;
        *o_++ = (int8_t)edgeq_clamp(r, p->act_min, p->act_max);
    });
}
#endif
