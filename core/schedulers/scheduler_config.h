// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace psa {

/// The union of the diffusers `scheduler_config.json` keys that DDIM, PNDM, Euler, Euler ancestral
/// and DPM-Solver++ read, under their diffusers names. Defaults are the diffusers constructor
/// defaults; the three whose default differs per class are optional and resolved by each scheduler
/// (timestep_spacing: DDIM/PNDM `leading`, Euler/DPM `linspace`; set_alpha_to_one: DDIM true,
/// PNDM false; clip_sample: DDIM true). Options a scheduler cannot honour make it throw
/// ConfigError.
struct SchedulerConfig {
    std::string class_name; // "_class_name"; empty when absent

    // ---- training schedule ----
    int num_train_timesteps = 1000;
    double beta_start = 0.0001;
    double beta_end = 0.02;
    std::string beta_schedule = "linear";    // linear | scaled_linear | squaredcos_cap_v2
    std::vector<double> trained_betas;       // non-empty: used instead of beta_schedule
    bool rescale_betas_zero_snr = false;     // only false is supported
    std::string prediction_type = "epsilon"; // epsilon | v_prediction

    // ---- inference timesteps ----
    std::optional<std::string> timestep_spacing; // leading | linspace | trailing
    int steps_offset = 0;

    // ---- DDIM / PNDM ----
    std::optional<bool> set_alpha_to_one;
    std::optional<bool> clip_sample;
    double clip_sample_range = 1.0;
    bool thresholding = false; // only false is supported
    bool skip_prk_steps = false;

    // ---- Euler / DPM-Solver sigmas ----
    bool use_karras_sigmas = false;
    std::string final_sigmas_type = "zero";    // zero | sigma_min
    std::string interpolation_type = "linear"; // Euler; only linear is supported
    std::string timestep_type = "discrete";    // Euler; only discrete is supported
    std::optional<double> sigma_min;           // Euler Karras bounds; absent: the table's
    std::optional<double> sigma_max;

    // ---- DPM-Solver multistep ----
    int solver_order = 2;                       // 1 or 2 supported
    std::string algorithm_type = "dpmsolver++"; // only dpmsolver++ is supported
    std::string solver_type = "midpoint";       // midpoint | heun
    bool lower_order_final = true;
    bool euler_at_final = false;
    bool use_lu_lambdas = false; // only false is supported
    double lambda_min_clipped = -std::numeric_limits<double>::infinity();

    /// Reads a diffusers scheduler_config.json. Unknown keys are ignored; `null` means the default.
    /// Throws IoError when unreadable, ConfigError (naming the file and the key) on malformed JSON,
    /// a wrong type or an unknown enumeration value.
    static SchedulerConfig from_json(const std::filesystem::path& path);
    /// As from_json; `source_name` names the text in messages. Accepts Python's NaN/Infinity.
    static SchedulerConfig from_json_text(const std::string& text, const std::string& source_name);
    /// Stable Diffusion 1.5's scheduler_config.json (PNDMScheduler, scaled_linear 0.00085..0.012,
    /// steps_offset 1, set_alpha_to_one false, skip_prk_steps true, clip_sample false).
    static SchedulerConfig sd15();

    /// Throws ConfigError, prefixed with `source_name`, when a value is out of range or unknown.
    void validate(const std::string& source_name) const;

    /// The training noise schedule: betas and cumprod(1 - betas), float32 CPU
    /// [num_train_timesteps], computed like diffusers (scaled_linear = linspace(sqrt(b0), sqrt(b1),
    /// N, float32)^2).
    at::Tensor betas() const;
    at::Tensor alphas_cumprod() const;
};

} // namespace psa
