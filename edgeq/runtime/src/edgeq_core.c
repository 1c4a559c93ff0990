/* edgeq runtime: portable C99 int8 kernels (see edgeq_core.h for the contract).
 *
 * These bodies mirror TFLite Micro's reference kernels operation for operation, because TFLM is the
 * oracle the generated code must match bit for bit. Accumulation order inside one int32 sum does not
 * matter (two's-complement addition is associative), which is what later optimized kernels rely on.
 */
#include "edgeq_dsp.h"

#include <string.h>

/* Odometer over up to 6 dims; returns the input offset of the current index. */
static int32_t edgeq_next_index(const int32_t dims[], int32_t idx[])
{
    int32_t d;
    for (d = EDGEQ_MAX_DIMS - 1; d >= 0; --d) {
        if (++idx[d] < dims[d]) {
            return 1;
        }
        idx[d] = 0;
    }
    return 0;
}

#ifndef EDGEQ_OVERRIDE_MEAN_S8
void edgeq_mean_s8(const edgeq_mean_params *p, const int8_t *in, int8_t *restrict out)
{
    int32_t oi[EDGEQ_MAX_DIMS] = {0, 0, 0, 0, 0, 0};
    int32_t d;
    do {
        int32_t ri[EDGEQ_MAX_DIMS] = {0, 0, 0, 0, 0, 0};
        int32_t base = 0;
        int32_t sum = 0;
        int32_t r;
        for (d = 0; d < EDGEQ_MAX_DIMS; ++d) {
            base += oi[d] * p->out_strides[d];
        }
        do {
            int32_t off = base;
            for (d = 0; d < EDGEQ_MAX_DIMS; ++d) {
                off += ri[d] * p->red_strides[d];
            }
            sum += in[off];
        } while (edgeq_next_index(p->red_dims, ri));
        r = edgeq_mbqm(sum - p->in_zp * p->count, p->mult, (int)p->shift) + p->out_zp;
        *out++ = (int8_t)edgeq_clamp(r, -128, 127);
    } while (edgeq_next_index(p->out_dims, oi));
}
#endif

void edgeq_pad_s8(const edgeq_pad_params *p, const int8_t *in, int8_t *out)
{
    const int32_t *id = p->in_dims;
    const int32_t *od = p->out_dims;
    const size_t total = (size_t)od[0] * od[1] * od[2] * od[3];
    int32_t b, h, w;
    memset(out, (int)(int8_t)p->pad_value, total);
    for (b = 0; b < id[0]; ++b) {
        for (h = 0; h < id[1]; ++h) {
            for (w = 0; w < id[2]; ++w) {
                const size_t src = (((size_t)b * id[1] + h) * id[2] + w) * id[3];
                const size_t dst =
                    (((size_t)(b + p->before[0]) * od[1] + (h + p->before[1])) * od[2] + (w + p->before[2])) * od[3] +
                    p->before[3];
                memcpy(out + dst, in + src, (size_t)id[3]);
            }
        }
    }
}

void edgeq_concat(int32_t num_inputs, const int8_t *const inputs[], const int32_t copy_bytes[], int32_t outer,
                  int8_t *out)
{
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < num_inputs; ++i) {
            memcpy(out, inputs[i] + (size_t)o * copy_bytes[i], (size_t)copy_bytes[i]);
            out += copy_bytes[i];
        }
    }
}

void edgeq_copy(const void *in, void *out, int32_t bytes)
{
    if (in != out) {
        memmove(out, in, (size_t)bytes);
    }
}

/* roundf() semantics (half away from zero) without libm; |r| is clamped far outside the int16 range. */
int32_t edgeq_round_f32(float r)
{
    const float a = r < 0.0f ? -r : r;
    int32_t t;
    if (!(a < 1.0e6f)) {
        t = 1000000; /* also NaN */
    } else {
        t = (int32_t)a;
        if (a - (float)t >= 0.5f) { /* exact: a < 2^23 */
            t += 1;
        }
    }
    return r < 0.0f ? -t : t;
}

void edgeq_quantize_f32_s8(const float *in, int8_t *out, int32_t n, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t q = edgeq_round_f32(in[i] / scale) + zero_point;
        out[i] = (int8_t)edgeq_clamp(q, -128, 127);
    }
}

void edgeq_dequantize_s8_f32(const int8_t *in, float *out, int32_t n, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = scale * (float)((int32_t)in[i] - zero_point);
    }
}

void edgeq_requantize_s8(const int8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t mult, int32_t shift,
                         int32_t out_zp, int32_t act_min, int32_t act_max)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t r = edgeq_mbqm((int32_t)in[i] - in_zp, mult, (int)shift) + out_zp;
        out[i] = (int8_t)edgeq_clamp(r, act_min, act_max);
    }
}

void edgeq_clamp_s8(const int8_t *in, int8_t *out, int32_t n, int32_t lo, int32_t hi)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = (int8_t)edgeq_clamp(in[i], lo, hi);
    }
}
