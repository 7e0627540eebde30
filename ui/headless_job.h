// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <QString>

namespace psa::ui {

/// What psa-studio does without a display: the same main job as the window, written to the data
/// folder. Returns the path of what it wrote; throws std::exception on failure.
QString runHeadlessJob();

} // namespace psa::ui
