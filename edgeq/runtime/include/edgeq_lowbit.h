/* edgeq runtime: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with 4-, 2- or 1-bit weights (issue #9).
 *
 * A layer whose int8 weights take at most 2^bits distinct values per output channel is stored as bits-wide
 * indices j plus, per output channel, the int8 value of each index: either affine, w = a + s * j (one int8 a and
 * one uint8 s per channel, or only s when a = -(s * sym_h) / 2 for the whole op: ternary {-q, 0, q}, binary
 * {-q, q}, symmetric uniform levels), or a table of 2^bits int8 values
 * (k-means clusters and the like; identical tables are stored once, tab_idx names a channel's table). The int8
 * weights are exactly w = value(j), so the kernels compute the int8 model's int32 accumulators (modulo 2^32, in
 * any order) and produce the same bytes as tflite-micro on the int8 .tflite.
 *
 * The shape, quantization and requantization parameters are the int8 kernels' structs (edgeq_conv2d_params,
 * edgeq_conv_params, edgeq_fc_params; their filter / w16 / dw_w are NULL and bias_eff carries bias + in_offset *
 * sum(w)); the packed weights come as edgeq_lowbit_weights.
 *
 * Index layout (codes):
 *   CONV_2D / FULLY_CONNECTED: one row of row_bytes bytes per output channel over K taps (conv: [k_h][k_w][in_c],
 *   FC: [in_depth]). Per group of 4 taps k..k+3 two "pair codes" of 2 * bits bits, {j[k], j[k+2]} then
 *   {j[k+1], j[k+3]} (first index in the low bits), i.e. the pairs SXTB16 / SXTB16 ROR #8 make of 4 input bytes;
 *   pair code q sits at bit q * 2 * bits of the row (little endian bits); the last group is zero padded.
 *   DEPTHWISE_CONV_2D: one bit stream, j of channel c, tap t ([k_h][k_w]) at bit (c * K + t) * bits.
 * Kernels: on the DSP path (Cortex-M4/M7/M33, or -DEDGEQ_EMULATE_DSP) CONV_2D layers whose window fits the int8
 * kernel's int16 weight layout (up to 640 taps) and have at least 8 output pixels decode a chunk of output channels
 * (EDGEQ_LOWBIT_W16_BYTES) once into that layout and run the int8 kernel edgeq_conv2d on it, a few output rows (1x1:
 * pixels) at a time into a buffer (EDGEQ_LOWBIT_OUT_BYTES) copied into the output's channels. Otherwise CONV_2D / FC
 * gather (or, 1x1 without padding and FC, read in place) the im2col columns of a block of output pixels once and
 * run every channel over them; each pair code becomes a word of two int16 weights through a table of 2^(2 * bits)
 * words built on the stack once per call (per-channel tables: when the table changes; 4-bit per-channel tables are
 * read per weight instead), met with SMLAD by the input pairs, which the DSP path sign-extends once per block for
 * all channels; plain C uses the same table with scalar multiplies. Depthwise layers whose decoded int8 weights
 * (and their DSP layout) fit EDGEQ_LOWBIT_DW_BYTES run the int8 depthwise kernel on them; larger ones with depth
 * multiplier 1 run it on chunks of 16/8/4 channels and a few output rows (EDGEQ_LOWBIT_DWC_BYTES: decoded weights,
 * the input rows of those channels, the outputs), the rest a per-channel loop over the packed taps.
 * Stack (Cortex-M4, GCC -O2, -fstack-usage): CONV_2D int8-kernel path 5.6 KiB (4 KiB weights, 1 KiB outputs) plus
 * edgeq_conv2d's frame (up to ~2.9 KiB); packed path 5.6 KiB (pair table 1 KiB, column buffer
 * EDGEQ_LOWBIT_COL_BYTES, int16 columns 2 KiB, one decoded row 512 B, block pointers); depthwise 4.4 KiB (chunks) or
 * EDGEQ_LOWBIT_DW_BYTES plus the int8 depthwise kernel's frame; FC 1.7 KiB.
 */
#ifndef EDGEQ_LOWBIT_H
#define EDGEQ_LOWBIT_H

#include "edgeq_conv.h"
#include "edgeq_core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEQ_LOWBIT_COL_BYTES 1280 /* im2col columns of one block of output pixels */

typedef struct {
    int32_t bits;               /* 4, 2 or 1 */
    int32_t row_bytes;          /* CONV_2D / FC: bytes per output channel row; depthwise: 0 (bit stream) */
    const uint8_t *codes;       /* the packed indices (layout above) */
    const uint8_t *affine;      /* [out_c][2] {(int8) a, (uint8) s}: w = a + s * j (sym_h >= 0: [out_c] {s}, see
                                 * below); NULL: tables */
    const int8_t *tables;       /* [n_tables][2^bits]: w = tables[tab_idx[c] * 2^bits + j] (affine NULL) */
    const uint16_t *tab_idx;    /* [out_c], or NULL: every channel uses table 0 */
    int32_t n_tables;
    /* -1, or h >= 0: affine holds s only and every channel's a = -(s * h) / 2 (exact): symmetric levels, e.g.
     * ternary {-q, 0, q} (h = 2, s = q), binary {-q, q} (h = 1, s = 2q): one byte per channel */
    int32_t sym_h;
} edgeq_lowbit_weights;

void edgeq_conv2d_lowbit(const edgeq_conv2d_params *p, const edgeq_lowbit_weights *lw, const int8_t *in,
                         int8_t *out);
void edgeq_depthwise_conv2d_lowbit(const edgeq_conv_params *p, const edgeq_lowbit_weights *lw, const int8_t *in,
                                   int8_t *out);
void edgeq_fully_connected_lowbit(const edgeq_fc_params *p, const edgeq_lowbit_weights *lw, const int8_t *in,
                                  int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EDGEQ_LOWBIT_H */
