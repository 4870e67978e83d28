/* Input families for the Lipschitz sweeps, and MODEL.md §5's upper bound.
 *
 * The adversarial family is constructed, not optimised. Castin et al.'s sqrt(n) growth comes
 * from one token b that every other query weighs as much as all the others together: then
 * moving b moves all n-1 outputs by O(1) each, and ||Df|| ~ sqrt(n). With head 0's top
 * singular triple B q = sigma p (|p| = |q| = 1): b = R q (token 0, visible to every query
 * under the causal mask too), the n-1 others at a = r p, with r <= R the smallest radius at
 * which beta (a^T B b - a^T B a) = log(n-1), i.e. e^{s(a,b)} = (n-1) e^{s(a,a)} and P_{i,b} = 1/2.
 * Such r exists while n - 1 <= e^{max_r beta (r R sigma - r^2 p^T B p)} (about the mean-field
 * crossover n ~ e^{2 beta |B| R^2} up to the constant); beyond it r is the maximiser and the
 * weight on b falls below 1/2 (the growth bends, as the theory says it must). */
#include "lipschitz.h"
#include "init.h"
#include "rng.h"
#include "small_linalg.h"
#include <math.h>

const char *const LipInputNames[] = {"ball", "sphere", "adversarial", "uniform", "gaussian", "snapshot", NULL};

/* smallest r in (0, R] with beta (r R sigma - r^2 kappa) = L, or the maximiser of the left side */
static PetscReal AdversarialRadius(PetscReal beta, PetscReal sigma, PetscReal kappa, PetscReal R, PetscReal L)
{
  const PetscReal a = beta * kappa, b = beta * R * sigma; /* g(r) = b r - a r^2 */
  PetscReal       rmax = R;
  if (a > 0) rmax = PetscMin(R, b / (2 * a));
  if (b * rmax - a * rmax * rmax < L) return rmax;
  if (PetscAbsReal(a) < 1e-300) return L / b;
  const PetscReal disc = b * b - 4 * a * L;
  /* root nearest 0, in the cancellation-free form 2L / (b + sqrt(disc)) */
  return 2 * L / (b + PetscSqrtReal(PetscMax(disc, 0)));
}

PetscErrorCode LipschitzInputTokens(AttnModel m, LipInputFamily family, PetscReal R, PetscInt n, PetscInt lo, PetscInt nloc, PetscReal *x)
{
  const PetscInt d = m->d;

  PetscFunctionBegin;
  switch (family) {
  case LIP_INPUT_BALL:
  case LIP_INPUT_SPHERE:
    for (PetscInt i = 0; i < nloc; i++) {
      double u[2];
      MfsaRandomNormals((uint64_t)m->seed, MFSA_STREAM_LIP_INPUT, (uint64_t)(lo + i), (int)d, x + i * d);
      MfsaNormalizeRows(1, d, x + i * d);
      MfsaRandomUniform2((uint64_t)m->seed, MFSA_STREAM_LIP_RADIUS, (uint64_t)(lo + i), 0, u);
      /* uniform in the ball: radius R u^{1/d} */
      const PetscReal r = family == LIP_INPUT_BALL ? R * PetscPowReal(u[0], 1.0 / (PetscReal)d) : R;
      for (PetscInt a = 0; a < d; a++) x[i * d + a] *= r;
    }
    break;
  case LIP_INPUT_ADVERSARIAL: {
    PetscReal sigma, *p, *q, kappa = 0, r;
    PetscCall(PetscMalloc2(d, &p, d, &q));
    PetscCall(MfsaTopSingular(d, m->B, &sigma, p, q));
    for (PetscInt a = 0; a < d; a++)
      for (PetscInt b = 0; b < d; b++) kappa += p[a] * m->B[a * d + b] * p[b];
    PetscCheck(sigma > 0 && m->beta > 0, m->comm, PETSC_ERR_USER_INPUT, "-lip_inputs adversarial needs beta > 0 and B_0 = Q_0^T K_0 != 0 (got beta %g, |B_0| %g)", (double)m->beta, (double)sigma);
    r = AdversarialRadius(m->beta, sigma, kappa, R, PetscLogReal((PetscReal)PetscMax(n - 1, 1)));
    for (PetscInt i = 0; i < nloc; i++)
      for (PetscInt a = 0; a < d; a++) x[i * d + a] = (lo + i == 0) ? R * q[a] : r * p[a];
    PetscCall(PetscFree2(p, q));
  } break;
  case LIP_INPUT_UNIFORM:
  case LIP_INPUT_GAUSSIAN: {
    MfsaInitSpec spec = {.kind = family == LIP_INPUT_UNIFORM ? MFSA_INIT_UNIFORM : MFSA_INIT_GAUSSIAN};
    PetscCall(MfsaInitialTokens(m, &spec, n, lo, nloc, x));
  } break;
  case LIP_INPUT_SNAPSHOT:
    SETERRQ(m->comm, PETSC_ERR_ARG_WRONG, "LipschitzInputTokens: snapshot inputs are read by the study (-lip_snapshot)");
  }
  PetscFunctionReturn(0);
}

PetscErrorCode LipschitzUpperBound(AttnModel m, PetscInt n, PetscReal R, PetscReal *bound)
{
  const PetscInt d = m->d;

  PetscFunctionBegin;
  *bound = 0;
  /* the bound is for unmasked softmax in R^d without layer norm; other kernels and pre-LN: NaN */
  if (m->mask != MFSA_MASK_NONE || m->norm != MFSA_NORM_SOFTMAX || !AttnModelKernelIsExp(m) || m->geometry != MFSA_GEOMETRY_EUCLIDEAN || m->ln == MFSA_LN_PRE) {
    *bound = (PetscReal)NAN;
    PetscFunctionReturn(0);
  }
  /* the bound of one head, summed over heads (the map is the sum of the heads' maps) */
  for (PetscInt h = 0; h < m->heads; h++) {
    PetscReal nb, nv;
    PetscCall(MfsaTopSingular(d, m->B + h * d * d, &nb, NULL, NULL));
    PetscCall(MfsaTopSingular(d, m->V + h * d * d, &nv, NULL, NULL));
    const PetscReal e = m->beta * nb * R * R;
    *bound += nv * (1 + 3 * e) * PetscMin(PetscSqrtReal((PetscReal)n), PetscExpReal(e));
  }
  PetscFunctionReturn(0);
}
