// SPDX-License-Identifier: GPL-3.0-or-later
// Torch-free facade for loading a model and describing it (what the UI and CLI see).
#pragma once
#include "common/progress.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace psa {

struct ModelComponents; // pipeline/components.h

struct LoadModelOptions {
    std::string device = "auto"; // see choose_device()
    std::string dtype = "auto";  // see choose_dtype()
    /// For single-file checkpoints, which carry no tokenizer: a diffusers tokenizer/ folder.
    /// Default: <file's folder>/tokenizer, then $PSA_TOKENIZER_DIR.
    std::filesystem::path tokenizer_dir;
};

/// Loads a diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)
/// or an original single-file .safetensors checkpoint. Reports Stage::Load progress per component.
/// Throws ModelLoadError / ConfigError / IoError whose first line names the path and the fault (a
/// strict-load report follows on further lines). Cancellation returns nullptr.
std::shared_ptr<ModelComponents> load_model(const std::filesystem::path& path,
                                            const LoadModelOptions& options, JobControl& job);

struct ModelSummary {
    std::string name, kind, device, dtype;
    std::int64_t parameters = 0;
    int default_image_size = 0;
    int latent_factor = 8;
};
ModelSummary summarize_model(const ModelComponents& model);

} // namespace psa
