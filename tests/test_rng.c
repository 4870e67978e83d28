/* Philox4x32-10 against Random123's published known-answer vectors, and the properties
 * initial data relies on: draws depend only on (seed, stream, index, draw). */
#include <petscsys.h>
#include "rng.h"

int main(int argc, char **argv)
{
  /* Random123 tests/kat_vectors, "philox4x32 10" lines: counter[4], key[2] -> result[4] */
  const uint32_t kat[3][10] = {
    {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
    {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
    {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
  };
  PetscInt failures = 0;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  for (int v = 0; v < 3; v++) {
    uint32_t out[4];
    MfsaPhilox4x32(&kat[v][4], &kat[v][0], out);
    for (int w = 0; w < 4; w++)
      if (out[w] != kat[v][6 + w]) {
        PetscCall(PetscPrintf(PETSC_COMM_SELF, "KAT %d word %d: got %08x expected %08x\n", v, w, out[w], kat[v][6 + w]));
        failures++;
      }
  }
  /* Gaussian moments over 2e5 draws: mean ~ 0 +- 5 sigma/sqrt(N), variance ~ 1 */
  {
    const int N = 200000;
    double    sum = 0, sum2 = 0;
    for (int i = 0; i < N; i++) {
      double z[2];
      MfsaRandomNormal2(42, MFSA_STREAM_TOKENS, (uint64_t)i, 0, z);
      sum += z[0] + z[1];
      sum2 += z[0] * z[0] + z[1] * z[1];
    }
    const double mean = sum / (2.0 * N), var = sum2 / (2.0 * N) - mean * mean;
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "normal draws: mean %.3e (bound %.3e), variance %.5f\n", mean, 5.0 / sqrt(2.0 * N), var));
    if (fabs(mean) > 5.0 / sqrt(2.0 * N) || fabs(var - 1.0) > 0.02) failures++;
  }
  /* the same key and counter always give the same numbers; another index gives others */
  {
    double a[2], b[2], c[2];
    MfsaRandomUniform2(7, 1, 123, 0, a);
    MfsaRandomUniform2(7, 1, 123, 0, b);
    MfsaRandomUniform2(7, 1, 124, 0, c);
    if (a[0] != b[0] || a[1] != b[1] || a[0] == c[0]) failures++;
    if (!(a[0] > 0 && a[0] < 1 && a[1] > 0 && a[1] < 1)) failures++;
  }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "%s\n", failures ? "FAILED" : "rng: all checks passed"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
