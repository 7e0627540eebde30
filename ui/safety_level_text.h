// SPDX-License-Identifier: GPL-3.0-or-later
// What a safety level or profile keeps out, in plain words (the slider's line and tooltip).
#pragma once
#include "profiles/categories.h"
#include "profiles/profile.h"

#include <QString>

namespace psa::ui {

/// One sentence: "Keeps out self-harm, sexuality, shocking and propaganda." using the categories'
/// labels in category order; level 0 and ban-free profiles say that nothing is kept out.
QString keepsOutText(const psa::SafetyProfile& profile, const psa::CategorySet& categories);

/// Longer text for a tooltip: the title ("L3", or the profile name), then one line per kept-out
/// category with its description, then the categories that stay allowed.
QString keepsOutTooltip(const psa::SafetyProfile& profile, const psa::CategorySet& categories);

} // namespace psa::ui
