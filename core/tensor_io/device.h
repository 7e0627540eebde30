// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace psa {

/// "auto" (CUDA when available, else CPU; $PSA_DEVICE overrides), "cpu", "cuda" or "cuda:N".
/// Throws InvalidRequest for an unknown name or an unavailable CUDA device.
c10::Device choose_device(const std::string& preference = "auto");

/// Compute dtype policy: "auto" = float16 on CUDA, float32 on CPU; "fp32", "fp16", "bf16".
/// fp16 on the CPU is refused (LibTorch 1.13 lacks CPU half convolutions).
c10::ScalarType choose_dtype(const c10::Device& device, const std::string& preference = "auto");
std::string dtype_label(c10::ScalarType type); // "fp32", "fp16", "bf16", else torch's name

/// Sets LibTorch's intra-op threads: `requested` > 0, else $PSA_THREADS, else every core of the
/// machine (LibTorch may otherwise default to one). OpenBLAS gets $PSA_BLAS_THREADS threads
/// (default 1: torch's own threads already use the cores). Returns torch's count in force.
int configure_threads(int requested = 0);

/// Which BLAS LibTorch runs on (OpenBLAS config string and thread count, when it is OpenBLAS).
std::string blas_description();

/// One line per fact: LibTorch version, CUDA (devices, version), threads, BLAS.
std::string runtime_summary();
std::string torch_version();

} // namespace psa
