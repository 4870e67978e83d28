/* Counter-based random numbers (Philox4x32-10): every draw is a pure function of
 * (seed, counter), so initial data never depends on the rank count or call order. */
#pragma once
#include <stdint.h>

typedef struct {
  uint32_t v[4];
} MfsaPhiloxCounter;

/* One Philox4x32-10 block: 128 random bits for (key, counter). */
void MfsaPhilox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);

/* Two uniform doubles in (0,1) and two standard normals (Box-Muller) keyed by
 * (seed, stream, index, draw). `stream` separates unrelated uses (tokens, Q, K, V, ...). */
void MfsaRandomUniform2(uint64_t seed, uint32_t stream, uint64_t index, uint32_t draw, double u[2]);
void MfsaRandomNormal2(uint64_t seed, uint32_t stream, uint64_t index, uint32_t draw, double z[2]);

/* Fill out[0..count) with standard normals for one (stream, index). */
void MfsaRandomNormals(uint64_t seed, uint32_t stream, uint64_t index, int count, double *out);

enum { MFSA_STREAM_TOKENS = 1, MFSA_STREAM_QUERY = 2, MFSA_STREAM_KEY = 3, MFSA_STREAM_VALUE = 4, MFSA_STREAM_LIP_INPUT = 5, MFSA_STREAM_LIP_RADIUS = 6, MFSA_STREAM_LIP_START = 7 };
