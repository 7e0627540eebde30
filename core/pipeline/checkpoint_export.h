// SPDX-License-Identifier: GPL-3.0-or-later
// Writing original-layout (LDM) single-file SD 1.x checkpoints: from a loaded model, or the full
// SD 1.5 architecture with random weights (to benchmark loading real-size files without a
// download).
#pragma once
#include "common/progress.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace psa {

struct UNet2DConditionConfig;
struct AutoencoderKLConfig;
struct CLIPTextConfig;

struct CheckpointExport {
    Outcome outcome = Outcome::Completed; ///< Cancelled: nothing was written
    std::int64_t tensors = 0;
    std::uint64_t bytes = 0; ///< size of the written file
};

/// Loads `model` (diffusers folder or single file; strictly, on the CPU in fp32, as load_model)
/// and writes it atomically to `out` as one original-layout .safetensors file, every tensor cast
/// to `dtype` ("fp32", "fp16", "bf16"). Metadata: format, source, dtype and kSingleFileConfigKey.
/// Throws InvalidRequest for another dtype, and what load_model and save_safetensors throw.
CheckpointExport export_single_file(const std::filesystem::path& model,
                                    const std::filesystem::path& out, const std::string& dtype,
                                    JobControl& job);

/// The SD 1.5 architecture (the sd15() configs) with random weights, built, renamed and cast one
/// component at a time so that at most one fp32 component and the cast file contents are held.
CheckpointExport export_random_sd15(const std::filesystem::path& out, const std::string& dtype,
                                    JobControl& job);

// ---- shared with the single-file loader ----

/// Metadata key of the hyper-parameters that tensor shapes do not show (sample size, norm groups,
/// head counts, activation, ...), as JSON: {"unet": {...}, "vae": {...}, "text_encoder": {...}}
/// under the diffusers config.json key names.
inline constexpr const char* kSingleFileConfigKey = "psa.config";
std::string single_file_config_json(const UNet2DConditionConfig& unet,
                                    const AutoencoderKLConfig& vae, const CLIPTextConfig& text);
/// Sets the fields that JSON names; throws ModelLoadError (prefixed with `what`) for text that is
/// not such JSON or a value of the wrong type. Unknown keys are ignored.
void apply_single_file_config_json(const std::string& json, UNet2DConditionConfig& unet,
                                   AutoencoderKLConfig& vae, CLIPTextConfig& text,
                                   const std::string& what);

} // namespace psa
