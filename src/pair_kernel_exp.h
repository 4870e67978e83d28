/* The pair kernel's own vectorisable exponentials (internal to src/pair_kernel*.c): shared by
 * every kernel entry point so that all attention weights use the same arithmetic.
 *
 * One core, 2^u = 2^k * 2^f with k = round(u), |f| <= 1/2: a polynomial for 2^f and k added to
 * the exponent field with integer instructions (no multiply). Written as plain scalar code and
 * inlined, so that gcc vectorises it together with the FMAs around it inside `omp simd` loops
 * (compile with -ffp-contract=fast: ISO C mode otherwise forbids the fused multiply-adds, which
 * halve the instruction count). Independent of the libm version.
 *   - ExpNonPositive(x): e^x for x <= 0, Cody-Waite reduced (accurate to ~1 ulp at any x).
 *   - Exp2Kernel(u) / Exp2KernelF(u): 2^u for a u that the caller clamped to >= -1021 (double)
 *     or >= -125 (float) and that is <= 1023 / 127. The pair kernel computes u directly as
 *     log2(e) * score - running max with one FMA chain (the log2(e) is folded into the query),
 *     so its exp costs no reduction multiply at all. */
#pragma once
#include <stdint.h>

/* 2^f for |f| <= 1/2: Chebyshev (near-minimax) fit of degree 11 computed in 40-digit
 * arithmetic (truncation error 2e-17 with the coefficients rounded to double; evaluated: max
 * relative error 3.2e-16 = 2.9 u). Pairs c_2i + c_2i+1 f, then Horner in f^2 for the low half
 * and Estrin in f^4 across: 13 multiply-adds (a plain Estrin tree needs 14, a plain Horner 11
 * with a chain too long for the vector loop to overlap). */
static inline double Exp2Poly(double f)
{
  const double c1 = 0.6931471805599453, c2 = 0.24022650695910158, c3 = 0.055504108664821625;
  const double c4 = 0.009618129107587256, c5 = 0.001333355814640647, c6 = 0.00015403530463724353;
  const double c7 = 1.5252733841556773e-05, c8 = 1.3215432535912375e-06, c9 = 1.0178057087733941e-07;
  const double c10 = 7.074194297288521e-09, c11 = 4.4558179083360645e-10;
  const double f2 = f * f, f4 = f2 * f2;
  const double p01 = 1.0 + c1 * f, p23 = c2 + c3 * f, p45 = c4 + c5 * f, p67 = c6 + c7 * f, p89 = c8 + c9 * f, p1011 = c10 + c11 * f;
  return (p01 + f2 * p23) + f4 * ((p45 + f2 * p67) + f4 * (p89 + f2 * p1011));
}

/* 2^f for |f| <= 1/2 in float: Chebyshev fit of degree 6 (truncation error 3e-9, well below
 * float's unit roundoff u_f = 6e-8; evaluated: max relative error 1.2e-7 = 2 u_f), pairs then
 * Horner in f^2: 7 multiply-adds. */
static inline float Exp2PolyF(float f)
{
  const float c1 = 0.6931472067028326f, c2 = 0.24022650922288757f, c3 = 0.05550327226670302f;
  const float c4 = 0.009618056678524637f, c5 = 0.0013400428177615838f, c6 = 0.0001546144469856913f;
  const float f2 = f * f;
  return (1.0f + c1 * f) + f2 * ((c2 + c3 * f) + f2 * ((c4 + c5 * f) + f2 * c6));
}

/* 2^u for -1021 <= u <= 1023 (callers clamp). t = u + 1.5*2^52 rounds u to the integer k held
 * in t's low mantissa bits; p = 2^f in [0.70, 1.42] has exponent field 1022 or 1023, and adding
 * k << 52 gives p * 2^k exactly, a normal number for k in [-1021, 1023]. */
static inline double Exp2Kernel(double u)
{
  const double shifter = 0x1.8p52;
  const double t       = u + shifter;
  const double f       = u - (t - shifter);
  union {
    double   d;
    uint64_t u;
  } p = {.d = Exp2Poly(f)}, k = {.d = t};
  p.u += k.u << 52;
  return p.d;
}

/* 2^u for -125 <= u <= 127 in float (same construction, 23-bit mantissa). */
static inline float Exp2KernelF(float u)
{
  const float shifter = 0x1.8p23f;
  const float t       = u + shifter;
  const float f       = u - (t - shifter);
  union {
    float    d;
    uint32_t u;
  } p = {.d = Exp2PolyF(f)}, k = {.d = t};
  p.u += k.u << 23;
  return p.d;
}

/* e^x for x <= 0. Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2 (exact to ~1e-20), then
 * 2^(r log2 e) with the same polynomial and exponent assembly as the kernel (max relative
 * error ~2 ulp at any x). Arguments below -708 are clamped: their weight e^-708 ~ 3e-308
 * vanishes next to the max term e^0 = 1. */
static inline double ExpNonPositive(double x)
{
  const double log2e = 1.4426950408889634074, ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  const double shifter = 0x1.8p52;
  x                    = x < -708.0 ? -708.0 : x;
  const double t       = x * log2e + shifter; /* k = round(x log2e) in the low mantissa bits */
  const double k       = t - shifter;
  const double r       = (x - k * ln2_hi) - k * ln2_lo;
  union {
    double   d;
    uint64_t u;
  } p = {.d = Exp2Poly(r * log2e)}, kb = {.d = t};
  p.u += kb.u << 52;
  return p.d;
}
