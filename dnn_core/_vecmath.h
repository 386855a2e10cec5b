/* Element-wise loops over exp-based functions that gcc can vectorize.
 *
 * glibc's exp, log and tanh are scalar calls that a compiler cannot
 * vectorize. Below, exp(x) for x <= 0 and log1p(e) for 0 <= e <= 1 are written
 * branch-free (accurate to a few ulp), and each loop that uses them is built
 * twice on x86-64 (target_clones): for AVX2 + FMA, chosen at load time where
 * the CPU has them, and for the baseline. Every loop computes in double.
 */
#ifndef DNN_VECMATH_H
#define DNN_VECMATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
#define DNN_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define DNN_CLONES
#endif

/* x = k ln 2 + r with |r| <= ln 2 / 2 (x clamped to >= -708.3); returns r
 * and stores 2**k in *scale. */
static inline double dnn_reduce(double x, double *scale)
{
    const double shift = 6755399441055744.0;        /* 1.5 * 2**52: rounds to integer */
    double t, k;
    uint64_t bits, shift_bits;
    x = x < -708.3 ? -708.3 : x;
    t = x * 1.4426950408889634 + shift;
    k = t - shift;
    /* 2**k, built in the exponent bits (k sits in the low bits of t) */
    memcpy(&bits, &t, sizeof bits);
    memcpy(&shift_bits, &shift, sizeof shift_bits);
    bits = (bits - shift_bits + 1023) << 52;
    memcpy(scale, &bits, sizeof bits);
    return (x - k * 0.6931471803691238) - k * 1.9082149292705877e-10;   /* ln 2 hi, lo */
}

/* exp(r) - 1 for |r| <= ln 2 / 2: Taylor to degree 13, remainder < 2e-17,
 * r * sum(r**i / (i + 1)!, i = 0..12) evaluated by Estrin's scheme (short
 * dependency chains: the loops are latency-bound otherwise). */
static inline double dnn_expm1_reduced(double r)
{
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double q0 = 1.0 + r * (1.0 / 2.0);
    double q1 = 1.0 / 6.0 + r * (1.0 / 24.0);
    double q2 = 1.0 / 120.0 + r * (1.0 / 720.0);
    double q3 = 1.0 / 5040.0 + r * (1.0 / 40320.0);
    double q4 = 1.0 / 362880.0 + r * (1.0 / 3628800.0);
    double q5 = 1.0 / 39916800.0 + r * (1.0 / 479001600.0);
    double q6 = 1.0 / 6227020800.0;
    double w0 = q0 + q1 * r2, w1 = q2 + q3 * r2, w2 = q4 + q5 * r2;
    return r * ((w0 + w1 * r4) + (w2 + q6 * r4) * r8);
}

/* exp(x) for x <= 0 (below -708.3: about 2.2e-308 instead of less). */
static inline double dnn_exp_nonpositive(double x)
{
    double scale, r = dnn_reduce(x, &scale);
    return (dnn_expm1_reduced(r) + 1.0) * scale;
}

/* expm1(x) for x <= 0, accurate near 0 too. */
static inline double dnn_expm1_nonpositive(double x)
{
    double scale, r = dnn_reduce(x, &scale);
    return dnn_expm1_reduced(r) * scale + (scale - 1.0);
}

/* log1p(e) for 0 <= e <= 1: 2 atanh(s), s = e / (2 + e) in [0, 1/3]:
 * 2 s sum(t**n / (2 n + 1), n = 0..18) with t = s * s <= 1/9, by Estrin. */
static inline double dnn_log1p_unit(double e)
{
    double s = e / (2.0 + e);
    double t = s * s, t2 = t * t, t4 = t2 * t2, t8 = t4 * t4, t16 = t8 * t8;
    double q0 = 1.0 + t * (1.0 / 3.0);
    double q1 = 1.0 / 5.0 + t * (1.0 / 7.0);
    double q2 = 1.0 / 9.0 + t * (1.0 / 11.0);
    double q3 = 1.0 / 13.0 + t * (1.0 / 15.0);
    double q4 = 1.0 / 17.0 + t * (1.0 / 19.0);
    double q5 = 1.0 / 21.0 + t * (1.0 / 23.0);
    double q6 = 1.0 / 25.0 + t * (1.0 / 27.0);
    double q7 = 1.0 / 29.0 + t * (1.0 / 31.0);
    double q8 = 1.0 / 33.0 + t * (1.0 / 35.0);
    double q9 = 1.0 / 37.0;
    double w0 = q0 + q1 * t2, w1 = q2 + q3 * t2, w2 = q4 + q5 * t2;
    double w3 = q6 + q7 * t2, w4 = q8 + q9 * t2;
    double v0 = w0 + w1 * t4, v1 = w2 + w3 * t4;
    return 2.0 * s * ((v0 + v1 * t8) + w4 * t16);
}

/* The loops, for float (suffix f) and double (suffix d) arrays of m entries. */
#define DNN_LOOPS(T, SUFFIX)                                                        \
/* a = 1 / (1 + exp(-z)) */                                                         \
DNN_CLONES static void dnn_sigmoid_##SUFFIX(ptrdiff_t m, const T *z, T *a)          \
{                                                                                   \
    for (ptrdiff_t j = 0; j < m; j++) {                                             \
        double x = z[j], e = dnn_exp_nonpositive(-fabs(x));                         \
        a[j] = (T) ((x >= 0 ? 1.0 : e) / (1.0 + e));                               \
    }                                                                               \
}                                                                                   \
/* a = tanh(z) */                                                                   \
DNN_CLONES static void dnn_tanh_##SUFFIX(ptrdiff_t m, const T *z, T *a)             \
{                                                                                   \
    for (ptrdiff_t j = 0; j < m; j++) {                                             \
        double x = z[j], e = dnn_expm1_nonpositive(-2.0 * fabs(x));                 \
        double t = -e / (2.0 + e);                                                  \
        a[j] = (T) (x < 0 ? -t : t);                                                \
    }                                                                               \
}                                                                                   \
/* terms = max(z, 0) - z y + log1p(exp(-|z|)); a = sigmoid(z) unless NULL */        \
DNN_CLONES static void dnn_bce_##SUFFIX(ptrdiff_t m, const T *z, const T *y,        \
                                        double *terms, T *a)                        \
{                                                                                   \
    if (a == NULL) {                                                                \
        for (ptrdiff_t j = 0; j < m; j++) {                                         \
            double x = z[j], e = dnn_exp_nonpositive(-fabs(x));                     \
            terms[j] = (x > 0 ? x : 0.0) - x * y[j] + dnn_log1p_unit(e);            \
        }                                                                           \
        return;                                                                     \
    }                                                                               \
    for (ptrdiff_t j = 0; j < m; j++) {                                             \
        double x = z[j], e = dnn_exp_nonpositive(-fabs(x));                         \
        terms[j] = (x > 0 ? x : 0.0) - x * y[j] + dnn_log1p_unit(e);                \
        a[j] = (T) ((x >= 0 ? 1.0 : e) / (1.0 + e));                                \
    }                                                                               \
}                                                                                   \
/* Over the columns of Z (n, m): work[:m] = Z.max(0), work[m:2m] =             \
 * exp(Z - Z.max(0)).sum(0), and A = exp(Z - Z.max(0)) unless A is NULL */       \
DNN_CLONES static void dnn_column_exp_##SUFFIX(ptrdiff_t n, ptrdiff_t m, const T *Z,  \
                                               T *A, double *work)              \
{                                                                                   \
    double *colmax = work, *colsum = work + m;                                      \
    for (ptrdiff_t j = 0; j < m; j++) {                                             \
        colmax[j] = Z[j];                                                           \
        colsum[j] = 0.0;                                                            \
    }                                                                               \
    for (ptrdiff_t i = 1; i < n; i++)                                               \
        for (ptrdiff_t j = 0; j < m; j++) {                                         \
            double z = Z[i * m + j];                                                \
            colmax[j] = z > colmax[j] ? z : colmax[j];                              \
        }                                                                           \
    for (ptrdiff_t i = 0; i < n; i++)                                               \
        for (ptrdiff_t j = 0; j < m; j++) {                                         \
            double e = dnn_exp_nonpositive(Z[i * m + j] - colmax[j]);               \
            colsum[j] += e;                                                         \
            if (A != NULL)                                                          \
                A[i * m + j] = (T) e;                                               \
        }                                                                           \
}

DNN_LOOPS(float, f)
DNN_LOOPS(double, d)

#endif
