// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/parameters_settings.h"

#include "ui/safety_panel.h"

#include "pipeline/generation.h"

namespace psa::ui {

namespace {

QString problem(const char* field, const std::string& value, const char* what)
{
    return QStringLiteral("%1: \"%2\" %3").arg(QLatin1String(field), QString::fromStdString(value),
                                               QLatin1String(what));
}

} // namespace

ParsedSettings settingsFromParameters(const psa::A1111Parameters& p)
{
    ParsedSettings s;
    s.prompt = QString::fromStdString(p.prompt);
    s.negativePrompt = QString::fromStdString(p.negative_prompt);
    bool ok = false;
    if (const auto v = p.field("Seed")) {
        // A1111 writes -1 for "random" only in its UI, never in a file; a signed value is an error.
        const auto seed = QString::fromStdString(*v).toULongLong(&ok);
        ok ? void(s.seed = seed) : s.problems.append(problem("Seed", *v, "is not a non-negative integer"));
    }
    if (const auto v = p.field("Steps")) {
        const int steps = QString::fromStdString(*v).toInt(&ok);
        ok && steps >= 1 && steps <= 1000 ? void(s.steps = steps)
                                          : s.problems.append(problem("Steps", *v, "is not a step count 1-1000"));
    }
    if (const auto v = p.field("CFG scale")) {
        const double g = QString::fromStdString(*v).toDouble(&ok);
        ok && g >= 0 ? void(s.guidance = g) : s.problems.append(problem("CFG scale", *v, "is not a scale >= 0"));
    }
    if (const auto v = p.field("PSA scale")) {
        const double scale = QString::fromStdString(*v).toDouble(&ok);
        ok && scale >= 0 && scale <= kMaxAdapterStrength
            ? void(s.adapterStrength = scale)
            : s.problems.append(problem("PSA scale", *v, "is not a strength 0-2"));
    }
    if (const auto v = p.field("Sampler")) {
        const auto id = psa::sampler_from_display_name(*v);
        id.empty() ? s.problems.append(problem("Sampler", *v, "is not a sampler PSA Studio has"))
                   : void(s.sampler = QString::fromStdString(id));
    }
    if (const auto v = p.field("Size")) {
        const auto parts = QString::fromStdString(*v).split(QLatin1Char('x'));
        bool okW = false, okH = false;
        const int w = parts.size() == 2 ? parts[0].toInt(&okW) : 0;
        const int h = parts.size() == 2 ? parts[1].toInt(&okH) : 0;
        okW && okH && w > 0 && h > 0 ? void(s.size = QSize(w, h))
                                     : s.problems.append(problem("Size", *v, "is not WIDTHxHEIGHT"));
    }
    return s;
}

} // namespace psa::ui
