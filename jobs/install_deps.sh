#!/usr/bin/env bash
# Installs the Debian 12 packages mfsa needs that are not installed yet (root; skips what is
# there, so a second run costs a second). Usage: jobs/install_deps.sh [--build-only]
#   --build-only: compilers and libraries only (no Slurm, ParaView, Xvfb, clang for fuzzing).
set -euo pipefail
build_pkgs=(openmpi-bin libopenmpi-dev libfftw3-dev libfftw3-mpi-dev libhdf5-openmpi-dev hdf5-tools
            petsc-dev pkg-config cmake make gcc python3-numpy python3-h5py python3-matplotlib)
client_pkgs=(slurm-wlm munge paraview xvfb xauth)
fuzz_pkgs=(clang libclang-rt-14-dev)   # the libFuzzer harnesses (libclang_rt.fuzzer for clang 14)
pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--build-only" ] || pkgs+=("${client_pkgs[@]}" "${fuzz_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#pkgs[@]} packages present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install_deps: missing packages: ${missing[*]}" >&2
  echo "install_deps: run as root, or see README 'On a cluster' to build against modules/Spack" >&2
  exit 1
fi
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install_deps: done"
