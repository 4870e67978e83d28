/* Philox4x32-10 (Salmon et al., SC'11) and the uniform/normal draws built on it. */
#include "rng.h"
#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void MulHiLo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
  uint64_t p = (uint64_t)a * (uint64_t)b;
  *hi        = (uint32_t)(p >> 32);
  *lo        = (uint32_t)p;
}

void MfsaPhilox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4])
{
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    uint32_t hi0, lo0, hi1, lo1;
    MulHiLo(PHILOX_M0, c0, &hi0, &lo0);
    MulHiLo(PHILOX_M1, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* 53 random bits -> (0,1), never exactly 0 so log() in Box-Muller is finite. */
static inline double ToOpenUnit(uint32_t hi, uint32_t lo)
{
  uint64_t bits = ((uint64_t)hi << 21) ^ (uint64_t)(lo >> 11);
  bits &= (UINT64_C(1) << 53) - 1;
  return ((double)bits + 0.5) * 0x1.0p-53;
}

void MfsaRandomUniform2(uint64_t seed, uint32_t stream, uint64_t index, uint32_t draw, double u[2])
{
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), draw, stream};
  uint32_t       r[4];
  MfsaPhilox4x32(key, ctr, r);
  u[0] = ToOpenUnit(r[0], r[1]);
  u[1] = ToOpenUnit(r[2], r[3]);
}

void MfsaRandomNormal2(uint64_t seed, uint32_t stream, uint64_t index, uint32_t draw, double z[2])
{
  double u[2];
  MfsaRandomUniform2(seed, stream, index, draw, u);
  const double radius = sqrt(-2.0 * log(u[0]));
  const double angle  = 6.283185307179586476925286766559 * u[1];
  z[0]                = radius * cos(angle);
  z[1]                = radius * sin(angle);
}

void MfsaRandomNormals(uint64_t seed, uint32_t stream, uint64_t index, int count, double *out)
{
  for (int k = 0; k < count; k += 2) {
    double z[2];
    MfsaRandomNormal2(seed, stream, index, (uint32_t)(k / 2), z);
    out[k] = z[0];
    if (k + 1 < count) out[k + 1] = z[1];
  }
}
