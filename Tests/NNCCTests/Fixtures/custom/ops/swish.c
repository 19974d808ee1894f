/* Swish (SiLU) by hand: y = x * sigmoid(x), and its gradient from x and y. */
#include <math.h>

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

float swish(float x) { return x * sigmoid(x); }

/* dy/dx = s + x s (1 - s) = s (1 + x (1 - s)) with s = sigmoid(x); y is not needed here. */
float swish_grad(float x, float y, float dy) {
    (void)y;
    float s = sigmoid(x);
    return dy * s * (1.0f + x * (1.0f - s));
}

/* A deliberately wrong gradient (the x(1 - s) term dropped), for check-grad's failing case. */
float swish_grad_wrong(float x, float y, float dy) {
    (void)y;
    return dy * sigmoid(x);
}
