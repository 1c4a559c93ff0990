/* edgeq runtime: sizes of the kernels' stack scratch (bytes). These are the defaults, which fit every layer edgeq
 * handles: the runtime as shipped (and firmware serving several models) builds with them. The code generator
 * writes its own edgeq_config.h next to each model (edgeq_runtime/include/edgeq_config.h, edgeq/codegen/scratch.py)
 * with each size cut to what that model's layers use, so the kernels take the same paths on less stack. Every
 * value can be overridden with -D. One runtime serving several models: compile it with these defaults, or with the
 * largest value of each macro over the models' generated configs.
 *   EDGEQ_CONV_SCRATCH_BYTES  CONV_2D: DSP int16 windows (EDGEQ_X16_WORDS = /4; the 3 pixels x 2 channels block
 *                             uses 1.5x), Helium im2col columns
 *   EDGEQ_IM2COL_BYTES        CONV_2D: one column of the 2-pixel im2col (non-Helium builds)
 *   EDGEQ_CONV_MVE_BYTES      CONV_2D, Helium: the interleaved path's three windows and one gathered window
 *   EDGEQ_DW_WINDOW_BYTES     DEPTHWISE_CONV_2D, DSP: a clipped 3x3 window
 *   EDGEQ_DW_PAD_BYTES        DEPTHWISE_CONV_2D, DSP: three zero-point padded input rows
 *   EDGEQ_DW_PLANE_BYTES      DEPTHWISE_CONV_2D, DSP: channel-planar int16 input rows and doubled weights
 *   EDGEQ_DW_ROWS_BYTES       DEPTHWISE_CONV_2D, Helium: zero-point padded input rows
 *   EDGEQ_DW_PLANAR_BYTES     DEPTHWISE_CONV_2D, Helium: channel-planar padded planes
 * and which optional CONV_2D paths edgeq_conv.c compiles (1: all here; a model's generated config writes 0 for the
 * paths none of its layers take, which then fall through to the next path and finally the general loop):
 *   EDGEQ_CONV_PATH_WINDOWS       DSP int16 windows up to EDGEQ_CONV_SCRATCH_BYTES
 *   EDGEQ_CONV_PATH_CHUNKS        DSP int16 larger windows in chunks of K
 *   EDGEQ_CONV_PATH_IM2COL        int8 im2col of short-run windows (non-Helium)
 *   EDGEQ_CONV_PATH_GENERAL_FAST  the int8 general loop's 2-pixel block and folded-offset full windows
 *                                 (non-Helium; 0: one compact loop for every window)
 *   EDGEQ_CONV_PATH_FIRST         DSP 3x3 stride-2 3-channel layers on an int16 row ring (VWW's first layer) */
#ifndef EDGEQ_CONFIG_H
#define EDGEQ_CONFIG_H

#ifndef EDGEQ_CONV_SCRATCH_BYTES
#define EDGEQ_CONV_SCRATCH_BYTES 1280
#endif
#ifndef EDGEQ_IM2COL_BYTES
#define EDGEQ_IM2COL_BYTES 128
#endif
#ifndef EDGEQ_CONV_MVE_BYTES
#define EDGEQ_CONV_MVE_BYTES 2320
#endif
#ifndef EDGEQ_DW_WINDOW_BYTES
#define EDGEQ_DW_WINDOW_BYTES 1152
#endif
#ifndef EDGEQ_DW_PAD_BYTES
#define EDGEQ_DW_PAD_BYTES 4096
#endif
#ifndef EDGEQ_DW_PLANE_BYTES
#define EDGEQ_DW_PLANE_BYTES 3904
#endif
#ifndef EDGEQ_DW_ROWS_BYTES
#define EDGEQ_DW_ROWS_BYTES 1536
#endif
#ifndef EDGEQ_DW_PLANAR_BYTES
#define EDGEQ_DW_PLANAR_BYTES 4096
#endif
#ifndef EDGEQ_CONV_PATH_WINDOWS
#define EDGEQ_CONV_PATH_WINDOWS 1
#endif
#ifndef EDGEQ_CONV_PATH_CHUNKS
#define EDGEQ_CONV_PATH_CHUNKS 1
#endif
#ifndef EDGEQ_CONV_PATH_IM2COL
#define EDGEQ_CONV_PATH_IM2COL 1
#endif
#ifndef EDGEQ_CONV_PATH_GENERAL_FAST
#define EDGEQ_CONV_PATH_GENERAL_FAST 1
#endif
#ifndef EDGEQ_CONV_PATH_FIRST
#define EDGEQ_CONV_PATH_FIRST 1
#endif

#endif /* EDGEQ_CONFIG_H */
