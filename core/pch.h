// SPDX-License-Identifier: GPL-3.0-or-later
// The precompiled header of every torch-heavy target: parsing <torch/torch.h> costs ~36 s per file.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>
