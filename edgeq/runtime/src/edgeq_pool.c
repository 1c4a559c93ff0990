/* edgeq runtime: AVERAGE_POOL_2D and MAX_POOL_2D (see edgeq_core.h for the contract). */
#include "edgeq_dsp.h"

#ifndef EDGEQ_OVERRIDE_AVG_POOL_S8
void edgeq_avg_pool_s8(const edgeq_pool_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t y_start = iy0 < 0 ? -iy0 : 0;
            const int32_t y_end = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t x_start = ix0 < 0 ? -ix0 : 0;
                const int32_t x_end = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
                const int32_t count = (y_end - y_start) * (x_end - x_start);
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = 0;
                    for (y = y_start; y < y_end; ++y) {
                        for (x = x_start; x < x_end; ++x) {
                            acc += in_b[((size_t)(iy0 + y) * p->in_w + (ix0 + x)) * p->channels + c];
                        }
                    }
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
#endif

#ifndef EDGEQ_OVERRIDE_MAX_POOL_S8
void edgeq_max_pool_s8(const edgeq_pool_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t y_start = iy0 < 0 ? -iy0 : 0;
            const int32_t y_end = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t x_start = ix0 < 0 ? -ix0 : 0;
                const int32_t x_end = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
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
