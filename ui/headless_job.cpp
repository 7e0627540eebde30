// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/headless_job.h"

#include "ui/image_convert.h"
#include "ui/model_paths.h"
#include "ui/output_files.h"

#include "common/error.h"
#include "pipeline/text2image.h"
#include "profiles/profile_store.h"

#include <QDateTime>
#include <QDir>
#include <QSettings>

namespace psa::ui {

QString runHeadlessJob(const HeadlessOptions& options, const std::function<void(const QString&)>& note)
{
    const QString modelPath = startupModel(options.model, QSettings().value(QStringLiteral("models/last")).toString());
    if (modelPath.isEmpty())
        throw psa::InvalidRequest("no model to open: the demo model (" + demoModelDir().toStdString() +
                                  ") has no weights yet; pass a diffusers folder or .safetensors file");
    psa::JobControl job({}, [&](const psa::Progress& p) {
        if (p.stage == psa::Stage::Load && p.step < p.total && !p.detail.empty())
            note(QStringLiteral("loading %1").arg(QString::fromStdString(p.detail)));
    });
    psa::LoadModelOptions lo;
    psa::Text2Image t2i(psa::load_model(modelPath.toStdString(), lo, job));
    const QString adapter = adapterBesideModel(modelPath);
    if (!adapter.isEmpty())
        t2i.load_adapter(adapter.toStdString());

    psa::GenerationRequest r;
    QString prompt = options.prompt.trimmed();
    if (prompt.isEmpty())
        prompt = examplePrompt(modelPath);
    if (prompt.isEmpty())
        prompt = QString::fromUtf8(kFallbackPrompt);
    r.prompt = prompt.toStdString();
    r.seed = options.seed;
    r.steps = options.steps;
    const auto presets = psa::load_level_presets(psa::CategorySet::builtin());
    for (const auto& p : presets) {
        if (p.level > 0 && !t2i.has_adapter()) {
            note(QStringLiteral("no safety adapter beside %1: rendering L0 only").arg(modelPath));
            break;
        }
        r.conditions.push_back(psa::GenerationCondition::for_level(p, 1.0));
    }
    note(QStringLiteral("rendering \"%1\" (seed %2, %3 steps) at %4 level(s) on %5")
             .arg(prompt).arg(options.seed).arg(options.steps).arg(r.conditions.size()).arg(modelPath));
    const auto result = t2i.generate(r, job);

    const QString dir = QDir(outputsDir()).filePath(
        QStringLiteral("headless-%1").arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"))));
    QDir().mkpath(dir);
    const std::string modelName = psa::summarize_model(t2i.model()).name;
    QList<QPair<QString, QImage>> tiles;
    for (const auto& gi : result.images) {
        const auto& cond = r.conditions[static_cast<size_t>(gi.condition_index)];
        const QImage image = toQImage(gi.image);
        writePngWithText(uniqueImagePath(dir, QStringLiteral("psa-%1-%2").arg(gi.seed).arg(QString::fromStdString(cond.label))),
                         image,
                         {{"parameters", psa::a1111_parameters_text(r, gi.seed, gi.image.width, gi.image.height, modelName, &cond)},
                          {"psa", psa::psa_metadata_json(r, gi.seed, gi.image.width, gi.image.height, modelName, &cond,
                                                         t2i.adapter_name())}});
        tiles.append({QString::fromStdString(gi.condition_label), image});
    }
    if (tiles.isEmpty())
        throw psa::Error("the generation returned no images");
    const QString strip = uniqueImagePath(dir, QStringLiteral("strip-%1").arg(options.seed));
    // The strip carries the settings of its cells (their size), so reusing it reproduces them.
    const QSize cell = tiles.front().second.size();
    writePngWithText(strip, composeStrip(tiles),
                     {{"parameters", psa::a1111_parameters_text(r, r.seed, cell.width(), cell.height(), modelName)}});
    note(QStringLiteral("done in %1 s").arg(result.seconds, 0, 'f', 1));
    return strip;
}

} // namespace psa::ui
