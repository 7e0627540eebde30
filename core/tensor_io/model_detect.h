// SPDX-License-Identifier: GPL-3.0-or-later
// Which Stable Diffusion family a checkpoint belongs to, from tensor names and shapes only.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace psa {

struct TensorInfo;

enum class ModelKind { SD1, SD2, SDXL, SD1Inpainting, Unknown };

using NamesAndShapes = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

/// Works on original single-file (LDM/SGM) names and on diffusers UNet names: SDXL has
/// conditioner.embedders.* (or label_emb / add_embedding with 2816 inputs, or 2048-wide
/// cross-attention); SD 2.x has cond_stage_model.model.* (OpenCLIP) or 1024-wide cross-attention;
/// SD 1.x has cond_stage_model.transformer.* or 768-wide cross-attention, and 9 UNet input channels
/// make it inpainting. Reads no tensor data.
ModelKind detect_model_kind(const NamesAndShapes& names_and_shapes);
/// Same, over a safetensors header (SafetensorsFile::tensors()).
ModelKind detect_model_kind(const std::vector<TensorInfo>& tensors);
/// From a diffusers unet/config.json (cross_attention_dim, in_channels, addition_embed_type).
/// Throws ConfigError naming the file when it cannot be read or parsed.
ModelKind detect_model_kind_from_unet_config(const std::filesystem::path& config_json);

/// "SD 1.x", "SD 2.x", "SDXL", "SD 1.x inpainting", "unknown".
std::string model_kind_name(ModelKind kind);
/// One line saying why a kind cannot be used and what to choose instead; empty for SD1.
std::string unsupported_model_hint(ModelKind kind);

} // namespace psa
