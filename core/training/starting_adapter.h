// SPDX-License-Identifier: GPL-3.0-or-later
// Private to core/training: a new DPO run that starts from an adapter file
// (TrainConfig::init_adapter) instead of a fresh initialisation.
#pragma once
#include "adapter/adapter_file_info.h"
#include "adapter/safety_adapter.h"

#include <filesystem>
#include <vector>

namespace psa {

/// Copies the weights of the adapter file `file` into `adapter` (built for the run) and returns
/// what the file holds. The file must agree with the run on everything that gives its weights a
/// meaning: user tokens, embedding width, profile encoder (and version and category order for
/// the structured one), and a learned null user the run keeps. Otherwise ConfigError naming the
/// file and every mismatch; ModelLoadError when it does not fit the UNet's layers; IoError when
/// unreadable. A run that learns a null user from a file without one starts it at zero.
AdapterFileInfo load_starting_adapter(SafetyAdapterImpl& adapter, const std::filesystem::path& file,
                                      const std::vector<CrossAttentionLayerInfo>& unet_layers);

} // namespace psa
