// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <QString>

#include <cstdint>
#include <functional>

namespace psa::ui {

/// The headless prompt for a model that suggests none.
inline const char* const kFallbackPrompt = "a lighthouse on a rocky coast at sunset";

struct HeadlessOptions {
    QString model; // empty: the startup model (demo model, else the last one used)
    QString prompt; // empty: the model's example prompt (examplePrompt), else kFallbackPrompt
    std::uint64_t seed = 1;
    int steps = 20;
};

/// What psa-studio does without a display: the window's main job, the L0-L5 preview strip of one
/// prompt and seed on the default model, written to a new folder under the outputs folder (each
/// image and the strip, with settings). Without a safety adapter only L0 can be rendered, and the
/// `note` callback says so. Returns the strip's path; throws std::exception on failure.
QString runHeadlessJob(const HeadlessOptions& options, const std::function<void(const QString&)>& note);

} // namespace psa::ui
