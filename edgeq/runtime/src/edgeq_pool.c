/* edgeq runtime: AVERAGE_POOL_2D and MAX_POOL_2D (see edgeq_core.h for the contract). */
#include "edgeq_dsp.h"
#include "edgeq_mve.h"

/* The taps [*start, *end) of a k-tap window whose first tap is at input position i0 that lie inside [0, n). */
static inline void window_taps(int32_t i0, int32_t k, int32_t n, int32_t *start, int32_t *end)
{
    *start = i0 < 0 ? -i0 : 0;
    *end = k < n - i0 ? k : n - i0;
}

#ifndef EDGEQ_OVERRIDE_AVG_POOL_S8
void edgeq_avg_pool_s8(const edgeq_pool_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t y_start, y_end;
            window_taps(iy0, p->k_h, p->in_h, &y_start, &y_end);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t x_start, x_end;
                window_taps(ix0, p->k_w, p->in_w, &x_start, &x_end);
                const int32_t count = (y_end - y_start) * (x_end - x_start);
#if defined(EDGEQ_DSP) && !defined(EDGEQ_MVE)
                /* SXTAB16 sums four channels in int16 lanes: exact for at most 256 taps of -128..127 (~1 cycle a
                 * tap and channel on the M4 where the byte loop takes ~10) */
                const int32_t simd = (p->channels & 3) == 0 && count <= 256;
#endif
                int32_t n;
#ifdef EDGEQ_MVE
                /* Helium: the window summed four channels at a time, the rounding division per channel */
                for (c = 0; c < p->channels; c += 4) {
                    const mve_pred16_t pr = vctp32q((uint32_t)(p->channels - c));
                    int32x4_t sum = vdupq_n_s32(0);
                    int32_t s[4], j;
                    for (y = y_start; y < y_end; ++y) {
                        const int8_t *xp = in_b + ((size_t)(iy0 + y) * p->in_w + (ix0 + x_start)) * p->channels + c;
                        for (x = x_start; x < x_end; ++x, xp += p->channels) {
                            sum = vaddq_s32(sum, vldrbq_z_s32(xp, pr));
                        }
                    }
                    vstrwq_s32(s, sum);
                    for (j = 0; j < 4 && c + j < p->channels; ++j) {
                        int32_t acc = s[j];
                        if (count > 0) {
                            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                        }
                        *out++ = (int8_t)edgeq_clamp(acc, p->act_min, p->act_max);
                    }
                }
                continue;
#endif
                for (c = 0; c < p->channels; c += n) {
                    int32_t s02 = 0, s[4], j;
#if defined(EDGEQ_DSP) && !defined(EDGEQ_MVE)
                    int32_t s13 = 0;
#endif
                    for (y = y_start; y < y_end; ++y) {
                        const int8_t *xp = in_b + ((size_t)(iy0 + y) * p->in_w + (ix0 + x_start)) * p->channels + c;
#if defined(EDGEQ_DSP) && !defined(EDGEQ_MVE)
                        if (simd) { /* four channels a word: bytes 0/2 and 1/3 in the int16 lanes of s02/s13 */
                            for (x = x_start; x < x_end; ++x, xp += p->channels) {
                                const int32_t w = eq_load32(xp);
                                s02 = eq_sxtab16(s02, w);
                                s13 = eq_sxtab16_ror8(s13, w);
                            }
                            continue;
                        }
#endif
                        for (x = x_start; x < x_end; ++x, xp += p->channels) {
                            s02 += *xp;
                        }
                    }
                    s[0] = s02;
                    n = 1;
#if defined(EDGEQ_DSP) && !defined(EDGEQ_MVE)
                    if (simd) {
                        s[0] = (int16_t)s02;
                        s[1] = (int16_t)s13;
                        s[2] = s02 >> 16;
                        s[3] = s13 >> 16;
                        n = 4;
                    }
#endif
                    for (j = 0; j < n; ++j) {
                        int32_t acc = s[j];
                        if (count > 0) {
                            /* Round half away from zero, as TFLM does. */
                            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                        }
                        *out++ = (int8_t)edgeq_clamp(acc, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
#endif

#ifndef EDGEQ_OVERRIDE_MAX_POOL_S8
void edgeq_max_pool_s8(const edgeq_pool_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t y_start, y_end;
            window_taps(iy0, p->k_h, p->in_h, &y_start, &y_end);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t x_start, x_end;
                window_taps(ix0, p->k_w, p->in_w, &x_start, &x_end);
#ifdef EDGEQ_MVE
                for (c = 0; c < p->channels; c += 4, out += 4) {
                    const mve_pred16_t pr = vctp32q((uint32_t)(p->channels - c));
                    int32x4_t m = vdupq_n_s32(-128);
                    for (y = y_start; y < y_end; ++y) {
                        const int8_t *xp = in_b + ((size_t)(iy0 + y) * p->in_w + (ix0 + x_start)) * p->channels + c;
                        for (x = x_start; x < x_end; ++x, xp += p->channels) {
                            m = vmaxq_s32(m, vldrbq_z_s32(xp, pr));
                        }
                    }
                    m = vminq_s32(vmaxq_s32(m, vdupq_n_s32(p->act_min)), vdupq_n_s32(p->act_max));
                    vstrbq_p_s32(out, m, pr);
                }
                out -= (4 - (p->channels & 3)) & 3; /* the last group stored channels & 3 (or 4) bytes */
                continue;
#endif
                for (c = 0; c < p->channels; ++c) {
                    int32_t m = -128;
                    for (y = y_start; y < y_end; ++y) {
                        for (x = x_start; x < x_end; ++x) {
                            const int32_t v = in_b[((size_t)(iy0 + y) * p->in_w + (ix0 + x)) * p->channels + c];
                            m = v > m ? v : m;
                        }
                    }
                    *out++ = (int8_t)edgeq_clamp(m, p->act_min, p->act_max);
                }
            }
        }
    }
}
#endif
