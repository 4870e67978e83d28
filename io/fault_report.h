/* The report a run leaves when it stops on a numerical fault (io/fault_report.c). */
#pragma once
#include "output.h"

/* Collective. Writes <folder>/fault.h5 through fault.h5.tmp + rename: /state (the faulty state
 * in global order), root attributes message, time, step, and the provenance. Snapshots, the
 * XDMF index and the checkpoints are not touched. Never raises an error (the run is already
 * failing): on failure *written is false and why says what went wrong. */
PetscErrorCode MfsaFaultReportWrite(MfsaOutput out, Vec X, PetscReal t, PetscInt step, const char *message, const MfsaProvenance *prov, PetscBool *written, char *why, size_t len);
