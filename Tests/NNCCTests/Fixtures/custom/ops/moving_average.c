/* A moving average of width 3 along the last axis of [C, L] examples: y[c][t] = mean(x[c][t..t+2]),
   so y is [C, L - 2] (PyTorch's avg_pool1d(x, 3, stride=1)). */
#include <stdint.h>

#define WIDTH 3

void moving_average(const float *restrict x, float *restrict y, int64_t batch, int64_t channels, int64_t length) {
    const int64_t out = length - WIDTH + 1;
    for (int64_t r = 0; r < batch * channels; r++)
        for (int64_t t = 0; t < out; t++) {
            float s = 0.0f;
            for (int64_t k = 0; k < WIDTH; k++) s += x[r * length + t + k];
            y[r * out + t] = s / WIDTH;
        }
}

/* Each input element receives a third of the gradient of every window that holds it. */
void moving_average_grad(const float *restrict x, const float *restrict y, const float *restrict dy, float *restrict dx,
                         int64_t batch, int64_t channels, int64_t length) {
    (void)x; (void)y;
    const int64_t out = length - WIDTH + 1;
    for (int64_t i = 0; i < batch * channels * length; i++) dx[i] = 0.0f;
    for (int64_t r = 0; r < batch * channels; r++)
        for (int64_t t = 0; t < out; t++)
            for (int64_t k = 0; k < WIDTH; k++) dx[r * length + t + k] += dy[r * out + t] / WIDTH;
}
