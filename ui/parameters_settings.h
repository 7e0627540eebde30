// SPDX-License-Identifier: GPL-3.0-or-later
// "Reuse these settings": the generation settings found in an A1111-style `parameters` text
// (ours or another tool's), each field checked, problems named instead of silently dropped.
#pragma once
#include "common/a1111_parameters.h"

#include <QSize>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <optional>

namespace psa::ui {

struct ParsedSettings {
    QString prompt;
    QString negativePrompt;
    std::optional<std::uint64_t> seed;
    std::optional<int> steps;
    std::optional<double> guidance;
    std::optional<QString> sampler; // our sampler id ("euler-a")
    std::optional<QSize> size;
    std::optional<double> adapterStrength; // "PSA scale": the safety adapter's strength
    /// One line per field that was present but unusable: `Sampler: "Heun" is not a sampler we have`.
    QStringList problems;
};

ParsedSettings settingsFromParameters(const psa::A1111Parameters& parameters);

} // namespace psa::ui
