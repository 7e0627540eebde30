// SPDX-License-Identifier: GPL-3.0-or-later
// Private to world: a generated world's base renders as tensors with the judge's labels.
#pragma once
#include "common/image.h"
#include "common/progress.h"
#include "world/world_spec.h"

#include <ATen/core/Tensor.h>

#include <filesystem>

namespace psa {

struct LabelledRenders {
    WorldSpec spec;          ///< the world.json of the folder
    at::Tensor images;       ///< [N, 3, S, S] float32 in [0, 1], S = spec.image_size
    at::Tensor labels;       ///< [N, 2C] float32: harmful motif per concept, then safe motif
    at::Tensor subjects;     ///< [N] int64
    at::Tensor slot_classes; ///< [N, K] int64: motif class per slot (k harmful, C + k safe, 2C none)
};

/// Reads <world_dir>/world.json and base/metadata.jsonl and the images it names. Throws
/// ConfigError naming the file and line for an unknown concept or subject, IoError for an
/// unreadable image. Returns an empty result (images undefined) when stopped.
LabelledRenders load_labelled_renders(const std::filesystem::path& world_dir, JobControl& job);

/// RGB8 images -> [N, 3, size, size] float32 in [0, 1], resized with area averaging when needed.
at::Tensor images_to_batch(const std::vector<Image>& images, int size);

} // namespace psa
