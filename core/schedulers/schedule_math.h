// SPDX-License-Identifier: GPL-3.0-or-later
// Private to core/schedulers: the NumPy arithmetic diffusers builds its schedules with, reproduced
// bit for bit (linspace, arange, interp, round half-to-even), and helpers shared by the algorithms.
#pragma once
#include "schedulers/scheduler_config.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace psa::sched {

/// numpy.linspace(start, stop, num) in float64 (endpoint included).
std::vector<double> np_linspace(double start, double stop, int num);
/// numpy.arange(start, stop, step) for a float step (NumPy's length and fill rule).
std::vector<double> np_arange(double start, double stop, double step);
/// numpy.round: half to even.
double np_round(double x);
/// numpy.interp(x, arange(len(fp)), fp) in float64.
std::vector<double> np_interp(const std::vector<double>& x, const std::vector<float>& fp);

/// ((1 - acp) / acp) ** 0.5 in float32, one per training timestep (ascending t).
std::vector<float> train_sigmas(const at::Tensor& alphas_cumprod);
/// np.log over a float32 array (float32 results).
std::vector<float> log_float32(const std::vector<float>& values);
/// Karras et al. (2022) eq. 5 with rho = 7, float64, descending from sigma_max to sigma_min.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int n);
/// diffusers' _sigma_to_t: the fractional training timestep of `sigma` by interpolation in
/// log-sigma, with NumPy 1.x's float32 promotion of the scalar against the float32 table.
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);

/// Descending timesteps of DDIM/PNDM/Euler for `spacing` (leading, linspace, trailing), in float64
/// before any cast. linspace values are rounded only when `round_linspace` (Euler keeps them).
std::vector<double> spaced_timesteps(const std::string& spacing, int num_train_timesteps, int n,
                                     int steps_offset, bool round_linspace);

/// config.timestep_spacing, or the class default when the file has none.
std::string resolve_spacing(const SchedulerConfig& config, const char* class_default);

at::Tensor tensor_i64(const std::vector<std::int64_t>& values);
at::Tensor tensor_f32(const std::vector<float>& values);

/// Throws InvalidRequest unless noise is defined; TORCH_CHECKs its shape against x.
void require_noise(const std::string& scheduler, const at::Tensor& noise, const at::Tensor& x);
/// Throws ConfigError "<scheduler>: key '<key>': <what>".
[[noreturn]] void unsupported(const std::string& scheduler, const char* key,
                              const std::string& what);

} // namespace psa::sched
