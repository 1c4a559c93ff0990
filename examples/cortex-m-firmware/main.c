/* Example firmware: classify one 8x8 digit with the edgeq-generated model and print the prediction.
 *
 * The model's C API is edgeq_model.h (docs/codegen-api.md): quantize the float input with the model's input
 * scale/zero point, call edgeq_model_run(), read the int8 logits. The console is Arm semihosting (QEMU, or a
 * debugger); startup, linker script and the SysTick counter come from edgeq's targets/boards/. */
#include <stdint.h>

#include "counter.h"
#include "edgeq_model.h"
#include "eq_io.h"
#include "sample_digit.h"

static int8_t input[EDGEQ_MODEL_INPUT0_SIZE];
static int8_t logits[EDGEQ_MODEL_OUTPUT0_SIZE];

static int8_t quantize(float x) {
    float q = x / EDGEQ_MODEL_INPUT0_SCALE + (float)EDGEQ_MODEL_INPUT0_ZERO_POINT;
    int v = (int)(q + (q >= 0.0f ? 0.5f : -0.5f));
    return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
}

int main(void) {
    eq_io_init();
    eq_counter_init();
    for (int i = 0; i < EDGEQ_MODEL_INPUT0_SIZE; i++) input[i] = quantize(sample_digit[i]);

    uint64_t t0 = eq_counter_read();
    int rc = edgeq_model_run(input, logits);
    uint64_t ticks = eq_counter_read() - t0;
    if (rc != 0) {
        eq_printf("edgeq_model_run failed: %d\n", rc);
        return 1;
    }
    int best = 0;
    for (int i = 1; i < EDGEQ_MODEL_OUTPUT0_SIZE; i++)
        if (logits[i] > logits[best]) best = i;
    eq_printf("logits (int8):");
    for (int i = 0; i < EDGEQ_MODEL_OUTPUT0_SIZE; i++) eq_printf(" %d", logits[i]);
    eq_printf("\nprediction: %d (label %d)\n", best, SAMPLE_DIGIT_LABEL);
    /* On QEMU mps2-an386 with -icount shift=0 one SysTick tick is 40 instructions (edgeq bench calibrates it). */
    eq_printf("inference: %llu SysTick ticks, arena %d bytes\n", ticks, EDGEQ_MODEL_ARENA_SIZE);
    return best == SAMPLE_DIGIT_LABEL ? 0 : 1;
}
