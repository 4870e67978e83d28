/* Distributed JVP/VJP of attention as a MatShell (see lipschitz_operator.h). */
#include "lipschitz_operator.h"
#include "attention_jacobian.h"
#include "partition.h"

typedef struct {
  AttnModel    model;
  MPI_Comm     comm;
  PetscInt     n, d, lo, nloc;  /* forward block */
  PetscInt     vlo, vn;         /* mirror block for the transposed sums */
  PetscInt    *flo, *vlos;      /* block starts of every rank (size+1): forward, mirror */
  PetscInt     width;           /* VJP features per token */
  AttnJacobian jac;
  PetscReal   *xstore, *ustore, *fstore; /* SoA: keys, direction, features (width x ld) */
  PairKeys     keys, u;
  PetscReal   *rows;            /* gather buffer, n x max(d, width) row-major */
  PetscReal   *featloc, *sums;  /* nloc x width; vn x d */
  PetscReal   *tstore, *yloc;   /* normal product: transposed sums (SoA d x ld), J u of the local rows */
  PetscMPIInt *rcounts;         /* forward blocks x d: MPI_Reduce_scatter counts */
  PetscMPIInt *counts, *displs;
  PetscBool    set;
} LipOp;

/* Rows [start[r], start[r+1]) of every rank, `width` values each, gathered in global order and
 * transposed to SoA (component c of token j at soa[c*ld + j]). */
static PetscErrorCode GatherSoA(LipOp *op, const PetscInt *start, PetscInt width, const PetscReal *local, PetscReal *soa, PetscInt ld)
{
  PetscMPIInt size, rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(op->comm, &size));
  PetscCallMPI(MPI_Comm_rank(op->comm, &rank));
  for (PetscMPIInt r = 0; r < size; r++) {
    op->counts[r] = (PetscMPIInt)((start[r + 1] - start[r]) * width);
    op->displs[r] = (PetscMPIInt)(start[r] * width);
  }
  PetscCallMPI(MPI_Allgatherv(local, op->counts[rank], MPIU_REAL, op->rows, op->counts, op->displs, MPIU_REAL, op->comm));
  if (!soa) PetscFunctionReturn(0);
  for (PetscInt j = 0; j < op->n; j++)
    for (PetscInt c = 0; c < width; c++) soa[c * ld + j] = op->rows[j * width + c];
  PetscFunctionReturn(0);
}

static PetscErrorCode LipOpMult(Mat J, Vec U, Vec Y)
{
  LipOp             *op;
  const PetscScalar *u;
  PetscScalar       *y;

  PetscFunctionBegin;
  PetscCall(MatShellGetContext(J, &op));
  PetscCheck(op->set, op->comm, PETSC_ERR_ORDER, "Lipschitz operator: call LipschitzOperatorSetPoint first");
  PetscCall(VecGetArrayRead(U, &u));
  PetscCall(VecGetArrayWrite(Y, &y));
  PetscCall(GatherSoA(op, op->flo, op->d, u, op->ustore, op->keys.ld));
  PetscCall(AttnJacobianApply(op->jac, &op->u, u, y));
  PetscCall(VecRestoreArrayWrite(Y, &y));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscFunctionReturn(0);
}

static PetscErrorCode LipOpMultTranspose(Mat J, Vec W, Vec G)
{
  LipOp             *op;
  const PetscScalar *w;
  PetscScalar       *g;

  PetscFunctionBegin;
  PetscCall(MatShellGetContext(J, &op));
  PetscCheck(op->set, op->comm, PETSC_ERR_ORDER, "Lipschitz operator: call LipschitzOperatorSetPoint first");
  PetscCall(VecGetArrayRead(W, &w));
  PetscCall(VecGetArrayWrite(G, &g));
  PetscCall(AttnJacobianTransposeFeatures(op->jac, w, op->featloc));
  PetscCall(GatherSoA(op, op->flo, op->width, op->featloc, op->fstore, op->keys.ld));
  PetscCall(AttnJacobianTransposeSums(op->jac, &op->keys, op->fstore, op->vlo, op->vn, op->sums));
  /* mirror blocks -> every rank's forward block: gather all sums, keep the own rows */
  PetscCall(GatherSoA(op, op->vlos, op->d, op->sums, NULL, 0));
  PetscCall(PetscArraycpy(g, op->rows + op->lo * op->d, op->nloc * op->d));
  PetscCall(AttnJacobianTransposeFinish(op->jac, w, g));
  PetscCall(VecRestoreArrayWrite(G, &g));
  PetscCall(VecRestoreArrayRead(W, &w));
  PetscFunctionReturn(0);
}

static PetscErrorCode LipOpDestroy(Mat J)
{
  LipOp *op;

  PetscFunctionBegin;
  PetscCall(MatShellGetContext(J, &op));
  PetscCall(AttnJacobianDestroy(&op->jac));
  PetscCall(PairKeysFree(&op->xstore));
  PetscCall(PairKeysFree(&op->ustore));
  PetscCall(PetscFree(op->fstore));
  PetscCall(PetscFree5(op->flo, op->vlos, op->rows, op->featloc, op->sums));
  PetscCall(PetscFree2(op->counts, op->displs));
  PetscCall(PetscFree3(op->tstore, op->yloc, op->rcounts));
  PetscCall(PetscFree(op));
  PetscFunctionReturn(0);
}

PetscErrorCode LipschitzOperatorCreate(AttnModel model, PetscInt n, Mat *J)
{
  LipOp         *op;
  PetscMPIInt    size, rank;
  const PetscInt d      = model->d;
  const PetscBool causal = model->mask == MFSA_MASK_CAUSAL ? PETSC_TRUE : PETSC_FALSE;

  PetscFunctionBegin;
  PetscCheck(n >= 1, model->comm, PETSC_ERR_USER_INPUT, "Lipschitz operator: n must be >= 1 (got %" PetscInt_FMT ")", n);
  PetscCall(PetscNew(&op));
  op->model = model;
  op->comm  = model->comm;
  op->n     = n;
  op->d     = d;
  PetscCallMPI(MPI_Comm_size(op->comm, &size));
  PetscCallMPI(MPI_Comm_rank(op->comm, &rank));
  PetscCall(MfsaPartitionTokens(op->comm, n, causal, &op->lo, &op->nloc));
  PetscCall(AttnJacobianCreate(model, n, op->lo, op->nloc, &op->jac));
  PetscCall(AttnJacobianTransposeFeatureWidth(op->jac, &op->width)); /* depends on the kernel */
  PetscCheck((PetscInt64)n * PetscMax(op->width, d) < PETSC_MPI_INT_MAX, op->comm, PETSC_ERR_SUP, "Lipschitz operator: n x %" PetscInt_FMT " = %" PetscInt64_FMT " exceeds what one MPI_Allgatherv moves; use fewer tokens or heads", op->width, (PetscInt64)n * op->width);
  PetscCall(PetscMalloc5(size + 1, &op->flo, size + 1, &op->vlos, (size_t)n * PetscMax(op->width, d), &op->rows, PetscMax(op->nloc, 1) * op->width, &op->featloc, (size_t)n * d, &op->sums));
  PetscCall(PetscMalloc2(size, &op->counts, size, &op->displs));
  /* key k is attended by the queries i >= k: the pair-balanced blocks of the reversed order */
  for (PetscMPIInt r = 0; r <= size; r++) {
    op->flo[r]  = MfsaPartitionStart(n, causal, r, size);
    op->vlos[r] = n - MfsaPartitionStart(n, causal, size - r, size);
  }
  op->vlo = op->vlos[rank];
  op->vn  = op->vlos[rank + 1] - op->vlos[rank];
  PetscCall(PairKeysAllocate(n, d, &op->keys, &op->xstore));
  PetscCall(PairKeysAllocate(n, d, &op->u, &op->ustore));
  PetscCall(PetscMalloc1((size_t)op->width * op->keys.ld, &op->fstore));
  PetscCall(PetscMalloc3((size_t)d * op->keys.ld, &op->tstore, PetscMax(op->nloc, 1) * d, &op->yloc, size, &op->rcounts));
  for (PetscMPIInt r = 0; r < size; r++) op->rcounts[r] = (PetscMPIInt)((op->flo[r + 1] - op->flo[r]) * d);
  PetscCall(MatCreateShell(op->comm, op->nloc * d, op->nloc * d, n * d, n * d, op, J));
  PetscCall(MatShellSetOperation(*J, MATOP_MULT, (void (*)(void))LipOpMult));
  PetscCall(MatShellSetOperation(*J, MATOP_MULT_TRANSPOSE, (void (*)(void))LipOpMultTranspose));
  PetscCall(MatShellSetOperation(*J, MATOP_DESTROY, (void (*)(void))LipOpDestroy));
  PetscFunctionReturn(0);
}

PetscErrorCode LipschitzOperatorGetOwnership(Mat J, PetscInt *lo, PetscInt *nloc)
{
  LipOp *op;

  PetscFunctionBegin;
  PetscCall(MatShellGetContext(J, &op));
  *lo   = op->lo;
  *nloc = op->nloc;
  PetscFunctionReturn(0);
}

PetscErrorCode LipschitzOperatorSetPoint(Mat J, Vec X)
{
  LipOp             *op;
  const PetscScalar *x;

  PetscFunctionBegin;
  PetscCall(MatShellGetContext(J, &op));
  PetscCall(VecGetArrayRead(X, &x));
  PetscCall(GatherSoA(op, op->flo, op->d, x, op->xstore, op->keys.ld));
  PetscCall(AttnJacobianSetPoint(op->jac, &op->keys, x));
  PetscCall(VecRestoreArrayRead(X, &x));
  op->set = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode LipschitzOperatorGetValue(Mat J, Vec F)
{
  LipOp           *op;
  const PetscReal *val;
  PetscScalar     *f;

  PetscFunctionBegin;
  PetscCall(MatShellGetContext(J, &op));
  PetscCall(AttnJacobianGetValue(op->jac, &val));
  PetscCall(VecGetArrayWrite(F, &f));
  PetscCall(PetscArraycpy(f, val, op->nloc * op->d));
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscFunctionReturn(0);
}

/* Df^T Df u: one sweep (AttnJacobianNormalApply), the transposed sums of all ranks added up and
 * handed to the owners of the rows, then the local diagonal and projection terms. */
static PetscErrorCode LipOpNormalMult(Mat N, Vec U, Vec G)
{
  Mat                J;
  LipOp             *op;
  const PetscScalar *u;
  PetscScalar       *g;

  PetscFunctionBegin;
  PetscCall(MatShellGetContext(N, &J));
  PetscCall(MatShellGetContext(J, &op));
  PetscCheck(op->set, op->comm, PETSC_ERR_ORDER, "Lipschitz operator: call LipschitzOperatorSetPoint first");
  PetscCall(VecGetArrayRead(U, &u));
  PetscCall(VecGetArrayWrite(G, &g));
  PetscCall(GatherSoA(op, op->flo, op->d, u, op->ustore, op->keys.ld));
  PetscCall(AttnJacobianNormalApply(op->jac, &op->u, u, op->yloc, op->tstore));
  for (PetscInt j = 0; j < op->n; j++)
    for (PetscInt c = 0; c < op->d; c++) op->rows[j * op->d + c] = op->tstore[c * op->keys.ld + j];
  PetscCallMPI(MPI_Reduce_scatter(op->rows, g, op->rcounts, MPIU_REAL, MPIU_SUM, op->comm));
  PetscCall(AttnJacobianTransposeFinish(op->jac, op->yloc, g));
  PetscCall(VecRestoreArrayWrite(G, &g));
  PetscCall(VecRestoreArrayRead(U, &u));
  PetscFunctionReturn(0);
}

static PetscErrorCode LipOpNormalDestroy(Mat N)
{
  Mat J;

  PetscFunctionBegin;
  PetscCall(MatShellGetContext(N, &J));
  PetscCall(MatDestroy(&J));
  PetscFunctionReturn(0);
}

PetscErrorCode LipschitzOperatorCreateNormal(Mat J, Mat *N)
{
  LipOp *op;

  PetscFunctionBegin;
  PetscCall(MatShellGetContext(J, &op));
  PetscCall(PetscObjectReference((PetscObject)J));
  PetscCall(MatCreateShell(op->comm, op->nloc * op->d, op->nloc * op->d, op->n * op->d, op->n * op->d, J, N));
  PetscCall(MatShellSetOperation(*N, MATOP_MULT, (void (*)(void))LipOpNormalMult));
  PetscCall(MatShellSetOperation(*N, MATOP_DESTROY, (void (*)(void))LipOpNormalDestroy));
  PetscCall(MatSetOption(*N, MAT_SYMMETRIC, PETSC_TRUE));
  PetscFunctionReturn(0);
}
