/* One held-out test image of scikit-learn's digits set (8x8, values in [0, 1]); written by
 * model/make_model.py. */
#ifndef SAMPLE_DIGIT_H
#define SAMPLE_DIGIT_H
#define SAMPLE_DIGIT_LABEL 0
static const float sample_digit[64] = {0.0000f, 0.0000f, 0.1250f, 1.0000f, 0.7500f, 0.0625f, 0.0000f, 0.0000f, 0.0000f, 0.0000f, 0.6875f, 0.9375f, 0.8125f, 0.6875f, 0.0000f, 0.0000f, 0.0000f, 0.1250f, 1.0000f, 0.5625f, 0.0000f, 0.8750f, 0.1250f, 0.0000f, 0.0000f, 0.2500f, 1.0000f, 0.7500f, 0.0000f, 0.6875f, 0.3125f, 0.0000f, 0.0000f, 0.2500f, 1.0000f, 0.3750f, 0.0000f, 0.7500f, 0.4375f, 0.0000f, 0.0000f, 0.0000f, 0.9375f, 0.0625f, 0.0625f, 0.9375f, 0.5625f, 0.0000f, 0.0000f, 0.0000f, 0.6250f, 0.5625f, 0.6250f, 0.9375f, 0.1250f, 0.0000f, 0.0000f, 0.0000f, 0.1250f, 0.8125f, 1.0000f, 0.5000f, 0.0000f, 0.0000f};
#endif
