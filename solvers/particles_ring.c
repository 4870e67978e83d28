/* Ring exchange of key blocks for the particle solver (see particles_ring.h).
 *
 * Step k = 0..P-1: rank r holds the block of rank (r - k) mod P. It first forwards that block to
 * r+1 (MPI_Isend: the buffer is only read while the kernel works on it), posts the receive of
 * the block it needs `inflight` steps later into the buffer freed by the previous step's send,
 * then runs the kernel on the block. MPI progress is driven between query chunks of the kernel
 * (AttnFieldSetProgress -> MPI_Testall), so the transfers overlap the compute. A block travels
 * as structure-of-arrays with its own leading dimension (its size rounded up to 8), in the
 * precision the kernel reads, so a rank never converts anything it receives and a message is no
 * larger than its block (the buffers hold the largest block). */
#include "particles_ring.h"
#include "partition.h"
#include <stdlib.h>
#include <string.h>

#define RING_TAG 7101

struct _p_ParticleRing {
  MPI_Comm      comm; /* a duplicate: ring messages never match anything else */
  PetscMPIInt   rank, size;
  PetscInt      n, d, ld; /* ld: leading dimension of the largest block (buffer capacity d*ld) */
  PetscInt     *start;    /* size+1 block starts (global token index) */
  PetscBool     causal;
  PairPrecision precision;
  PetscInt      inflight, nbuf;
  size_t        esize; /* bytes per value: 8 (double) or 4 (single) */
  MPI_Datatype  type;
  void        **buf;        /* nbuf = inflight + 1 buffers of d*ld values */
  MPI_Request  *rreq, *sreq; /* per buffer */
};

static PetscClassId  ring_classid;
static PetscLogEvent RING_EVALUATE, RING_KERNEL, RING_WAIT;

static PetscErrorCode RingRegisterEvents(void)
{
  static PetscBool done = PETSC_FALSE;

  PetscFunctionBegin;
  if (done) PetscFunctionReturn(0);
  done = PETSC_TRUE;
  PetscCall(PetscClassIdRegister("MFSA particle ring", &ring_classid));
  PetscCall(PetscLogEventRegister("RingEvaluate", ring_classid, &RING_EVALUATE));
  PetscCall(PetscLogEventRegister("RingKernel", ring_classid, &RING_KERNEL));
  PetscCall(PetscLogEventRegister("RingWait", ring_classid, &RING_WAIT));
  PetscFunctionReturn(0);
}

PetscErrorCode ParticleRingCreate(MPI_Comm comm, PetscInt n, PetscInt d, PetscBool causal, PairPrecision precision, PetscInt inflight, ParticleRing *ring)
{
  ParticleRing r;
  PetscInt     maxb = 0;

  PetscFunctionBegin;
  PetscCheck(inflight == 1 || inflight == 2, comm, PETSC_ERR_USER_INPUT, "-particles_ring_inflight must be 1 or 2 (got %" PetscInt_FMT ")", inflight);
  PetscCall(RingRegisterEvents());
  PetscCall(PetscNew(&r));
  PetscCallMPI(MPI_Comm_dup(comm, &r->comm));
  PetscCallMPI(MPI_Comm_rank(r->comm, &r->rank));
  PetscCallMPI(MPI_Comm_size(r->comm, &r->size));
  r->n         = n;
  r->d         = d;
  r->causal    = causal;
  r->precision = precision;
  r->inflight  = PetscMin(inflight, PetscMax(r->size - 1, 1));
  r->nbuf      = r->inflight + 1;
  r->esize     = precision == PAIR_PRECISION_SINGLE ? sizeof(float) : sizeof(double);
  r->type      = precision == PAIR_PRECISION_SINGLE ? MPI_FLOAT : MPI_DOUBLE;
  PetscCall(PetscMalloc1(r->size + 1, &r->start));
  for (PetscMPIInt k = 0; k <= r->size; k++) r->start[k] = MfsaPartitionStart(n, causal, k, r->size);
  for (PetscMPIInt k = 0; k < r->size; k++) maxb = PetscMax(maxb, r->start[k + 1] - r->start[k]);
  r->ld = PairKeysLeadingDimension(maxb);
  PetscCheck((PetscInt64)r->ld * d < PETSC_MPI_INT_MAX, comm, PETSC_ERR_SUP, "A ring block of %" PetscInt_FMT " x %" PetscInt_FMT " values exceeds one MPI message; use more ranks", r->ld, d);
  PetscCall(PetscCalloc3(r->nbuf, &r->buf, r->nbuf, &r->rreq, r->nbuf, &r->sreq));
  for (PetscInt b = 0; b < r->nbuf; b++) {
    void *mem = NULL;
    /* the kernel's layout rule: 64-byte aligned, same on every rank */
    PetscCheck(posix_memalign(&mem, 64, (size_t)r->ld * (size_t)d * r->esize) == 0, PETSC_COMM_SELF, PETSC_ERR_MEM, "Out of memory allocating a ring block of %" PetscInt_FMT " x %" PetscInt_FMT " keys", r->ld, d);
    memset(mem, 0, (size_t)r->ld * (size_t)d * r->esize); /* padding is sent too: defined bytes */
    r->buf[b]  = mem;
    r->rreq[b] = MPI_REQUEST_NULL;
    r->sreq[b] = MPI_REQUEST_NULL;
  }
  *ring = r;
  PetscFunctionReturn(0);
}

/* Leading dimension and message length of the block of rank `owner`. */
static PetscInt BlockLd(ParticleRing r, PetscMPIInt owner) { return PairKeysLeadingDimension(r->start[owner + 1] - r->start[owner]); }

/* Own tokens (rows) -> the SoA block in buffer 0, converted to the kernel's precision. */
static void PackOwnBlock(ParticleRing r, PetscInt nloc, const PetscReal *x)
{
  const PetscInt d = r->d, ld = BlockLd(r, r->rank);

  if (r->precision == PAIR_PRECISION_SINGLE) {
    float *b = (float *)r->buf[0];
    for (PetscInt j = 0; j < nloc; j++)
      for (PetscInt c = 0; c < d; c++) b[c * ld + j] = (float)x[j * d + c];
  } else {
    double *b = (double *)r->buf[0];
    for (PetscInt j = 0; j < nloc; j++)
      for (PetscInt c = 0; c < d; c++) b[c * ld + j] = x[j * d + c];
  }
}

/* Progress hook: lets the transfers in flight advance while the kernel computes. */
static PetscErrorCode RingProgress(void *ctx)
{
  ParticleRing r = (ParticleRing)ctx;
  int          flag;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Testall((int)r->nbuf, r->rreq, &flag, MPI_STATUSES_IGNORE));
  PetscCallMPI(MPI_Testall((int)r->nbuf, r->sreq, &flag, MPI_STATUSES_IGNORE));
  PetscFunctionReturn(0);
}

/* The block of rank (rank - step) arrives from the left neighbour into buffer step % nbuf. */
static PetscErrorCode PostRecv(ParticleRing r, PetscInt step)
{
  const PetscInt    b     = step % r->nbuf;
  const PetscMPIInt left  = (r->rank - 1 + r->size) % r->size;
  const PetscMPIInt owner = (PetscMPIInt)((r->rank - step + r->size) % r->size);

  PetscFunctionBegin;
  PetscCallMPI(MPI_Irecv(r->buf[b], (PetscMPIInt)(r->d * BlockLd(r, owner)), r->type, left, RING_TAG, r->comm, &r->rreq[b]));
  PetscFunctionReturn(0);
}

PetscErrorCode ParticleRingEvaluate(ParticleRing r, AttnField field, const PetscReal *x, PetscReal *vel, PetscReal *logz)
{
  const PetscMPIInt P = r->size, right = (r->rank + 1) % r->size;
  const PetscInt    lo = r->start[r->rank], nloc = r->start[r->rank + 1] - lo;

  PetscFunctionBegin;
  PetscCall(PetscLogEventBegin(RING_EVALUATE, 0, 0, 0, 0));
  PetscCall(AttnFieldBegin(field, r->n, lo, nloc, x));
  PetscCall(AttnFieldSetProgress(field, RingProgress, r));
  PackOwnBlock(r, nloc, x);
  for (PetscInt k = 1; k < r->inflight && k < P; k++) PetscCall(PostRecv(r, k));
  for (PetscInt k = 0; k < P; k++) {
    const PetscInt    b     = k % r->nbuf;
    const PetscMPIInt owner = (PetscMPIInt)((r->rank - k + P) % P);
    PairKeys          block;

    if (k > 0) {
      PetscCall(PetscLogEventBegin(RING_WAIT, 0, 0, 0, 0));
      PetscCallMPI(MPI_Wait(&r->rreq[b], MPI_STATUS_IGNORE));
      PetscCall(PetscLogEventEnd(RING_WAIT, 0, 0, 0, 0));
    }
    if (k < P - 1) PetscCallMPI(MPI_Isend(r->buf[b], (PetscMPIInt)(r->d * BlockLd(r, owner)), r->type, right, RING_TAG, r->comm, &r->sreq[b]));
    if (k + r->inflight < P) { /* its buffer was last sent from at step k-1 */
      PetscCall(PetscLogEventBegin(RING_WAIT, 0, 0, 0, 0));
      PetscCallMPI(MPI_Wait(&r->sreq[(k + r->inflight) % r->nbuf], MPI_STATUS_IGNORE));
      PetscCall(PetscLogEventEnd(RING_WAIT, 0, 0, 0, 0));
      PetscCall(PostRecv(r, k + r->inflight));
    }
    memset(&block, 0, sizeof(block));
    block.n         = r->start[owner + 1] - r->start[owner];
    block.d         = r->d;
    block.ld        = BlockLd(r, owner);
    block.offset    = r->start[owner];
    block.precision = r->precision;
    if (r->precision == PAIR_PRECISION_SINGLE) block.xs = (const float *)r->buf[b];
    else block.x = (const double *)r->buf[b];
    /* causal: a block wholly after this rank's tokens is forwarded, never computed */
    if (block.n > 0 && nloc > 0 && !(r->causal && block.offset >= lo + nloc)) {
      PetscCall(PetscLogEventBegin(RING_KERNEL, 0, 0, 0, 0));
      PetscCall(AttnFieldAccumulate(field, &block));
      PetscCall(PetscLogEventEnd(RING_KERNEL, 0, 0, 0, 0));
    }
  }
  PetscCall(PetscLogEventBegin(RING_WAIT, 0, 0, 0, 0));
  PetscCallMPI(MPI_Waitall((int)r->nbuf, r->sreq, MPI_STATUSES_IGNORE));
  PetscCall(PetscLogEventEnd(RING_WAIT, 0, 0, 0, 0));
  PetscCall(AttnFieldSetProgress(field, NULL, NULL));
  PetscCall(AttnFieldEnd(field, x, vel, logz));
  PetscCall(PetscLogEventEnd(RING_EVALUATE, 0, 0, 0, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode ParticleRingDestroy(ParticleRing *ring)
{
  ParticleRing r = *ring;

  PetscFunctionBegin;
  if (!r) PetscFunctionReturn(0);
  for (PetscInt b = 0; b < r->nbuf; b++) free(r->buf[b]);
  PetscCall(PetscFree3(r->buf, r->rreq, r->sreq));
  PetscCall(PetscFree(r->start));
  PetscCallMPI(MPI_Comm_free(&r->comm));
  PetscCall(PetscFree(*ring));
  PetscFunctionReturn(0);
}
