// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/inference_worker.h"

#include "ui/image_convert.h"
#include "ui/model_paths.h"
#include "ui/output_files.h"

#include "common/allocator_tuning.h"
#include "common/error.h"
#include "pipeline/text2image.h"

#include <QDateTime>
#include <QFileInfo>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace psa::ui {

namespace {

QString fileLabel(const std::string& label)
{
    QString out = QString::fromStdString(label);
    for (auto& c : out)
        if (!c.isLetterOrNumber())
            c = QLatin1Char('-');
    return out;
}

} // namespace

InferenceWorker::InferenceWorker() = default;
InferenceWorker::~InferenceWorker() = default;

ModelInfo InferenceWorker::describe(const QString& path) const
{
    ModelInfo info;
    info.path = path;
    if (!m_pipeline)
        return info;
    const auto s = psa::summarize_model(m_pipeline->model());
    info.name = QString::fromStdString(s.name);
    info.kind = QString::fromStdString(s.kind);
    info.device = QString::fromStdString(s.device);
    info.dtype = QString::fromStdString(s.dtype);
    info.parameters = s.parameters;
    info.defaultSize = s.default_image_size;
    info.latentFactor = s.latent_factor;
    info.adapterName = QString::fromStdString(m_pipeline->adapter_name());
    return info;
}

void InferenceWorker::loadModel(const QString& path, const QString& device, std::stop_token stop)
{
    try {
        psa::JobControl job(stop, [this](const psa::Progress& p) {
            Q_EMIT loadProgressed(p.step, p.total, QString::fromStdString(p.detail));
        });
        psa::LoadModelOptions options;
        options.device = device.isEmpty() ? "auto" : device.toStdString();
        spdlog::info("loading model {}", path.toStdString());
        auto model = psa::load_model(path.toStdString(), options, job);
        if (!model) {
            spdlog::info("loading {} cancelled", path.toStdString());
            Q_EMIT modelLoadCancelled();
            return;
        }
        auto pipeline = std::make_unique<psa::Text2Image>(std::move(model));
        const QString adapter = adapterBesideModel(path);
        if (!adapter.isEmpty()) {
            try {
                pipeline->load_adapter(adapter.toStdString());
                spdlog::info("safety adapter {} loaded with the model", adapter.toStdString());
            } catch (const std::exception& e) {
                // The model itself is fine; say why the adapter is not in use and go on without it.
                spdlog::warn("adapter beside the model not used: {}", e.what());
                Q_EMIT failed(tr("Loading the adapter beside the model"), QString::fromUtf8(e.what()));
            }
        }
        m_pipeline = std::move(pipeline);
        psa::release_free_memory(); // the replaced model's weights (common/allocator_tuning.h)
        m_modelPath = path;
        const auto info = describe(path);
        spdlog::info("model {} ready: {} on {} ({})", info.name.toStdString(), info.kind.toStdString(),
                     info.device.toStdString(), info.dtype.toStdString());
        Q_EMIT modelLoaded(info);
    } catch (const std::exception& e) {
        spdlog::error("loading {} failed: {}", path.toStdString(), e.what());
        Q_EMIT failed(tr("Loading the model"), QString::fromUtf8(e.what()));
    }
}

void InferenceWorker::loadAdapter(const QString& path)
{
    try {
        if (!m_pipeline)
            throw psa::InvalidRequest("no model is loaded: open a model before its adapter");
        m_pipeline->load_adapter(path.toStdString());
        spdlog::info("safety adapter {} loaded", path.toStdString());
        Q_EMIT adapterLoaded(QString::fromStdString(m_pipeline->adapter_name()));
        Q_EMIT modelLoaded(describe(m_modelPath));
    } catch (const std::exception& e) {
        spdlog::error("loading adapter {} failed: {}", path.toStdString(), e.what());
        Q_EMIT failed(tr("Loading the adapter"), QString::fromUtf8(e.what()));
    }
}

void InferenceWorker::generate(psa::GenerationRequest request, const QString& outputDir, std::stop_token stop)
{
    try {
        if (!m_pipeline)
            throw psa::InvalidRequest("no model is loaded: open a model first");
        const auto summary = psa::summarize_model(m_pipeline->model());
        const std::string adapterName = m_pipeline->adapter_name();
        const int nConditions = std::max<int>(1, static_cast<int>(request.conditions.size()));
        const int perPass = request.max_rows_per_pass > 0
                                ? std::clamp(request.max_rows_per_pass / std::max(1, request.batch), 1, nConditions)
                                : nConditions;
        const int passes = (nConditions + perPass - 1) / perPass;
        const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
        int imagesDone = 0;

        // The pass being denoised follows from the images already delivered: passes before it are full.
        const auto currentPass = [&] { return imagesDone / (perPass * std::max(1, request.batch)); };
        psa::JobControl job(stop, [&](const psa::Progress& p) {
            GenerationProgress g;
            g.stage = static_cast<int>(p.stage);
            g.step = p.step;
            g.total = p.total;
            g.pass = std::min(currentPass(), passes - 1);
            g.passes = passes;
            g.ratePerSecond = p.rate_per_second;
            if (p.stage == psa::Stage::Denoise && p.eta_seconds >= 0 && p.rate_per_second > 0)
                g.etaSeconds = p.eta_seconds + (passes - 1 - g.pass) * p.total / p.rate_per_second;
            Q_EMIT generationProgressed(g);
        });
        request.on_preview = [&](int step, const std::vector<psa::Image>& previews) {
            QList<QImage> images;
            for (const auto& p : previews)
                images.append(toQImage(p));
            Q_EMIT previewsReady(currentPass() * perPass, step, images);
        };
        request.on_image = [&](int condition, int batchIndex, const psa::Image& image) {
            GeneratedImageInfo info;
            info.condition = condition;
            info.batchIndex = batchIndex;
            info.seed = request.seed + static_cast<std::uint64_t>(batchIndex);
            info.image = toQImage(image);
            const psa::GenerationCondition* cond =
                request.conditions.empty() ? nullptr : &request.conditions[static_cast<size_t>(condition)];
            if (cond)
                info.label = QString::fromStdString(cond->label);
            const QString stem = QStringLiteral("%1-s%2%3").arg(stamp).arg(info.seed).arg(
                cond ? QStringLiteral("-") + fileLabel(cond->label) : QString());
            info.path = uniqueImagePath(outputDir, stem);
            writePngWithText(info.path, info.image,
                             {{"parameters", psa::a1111_parameters_text(request, info.seed, image.width, image.height,
                                                                         summary.name, cond)},
                              {"psa", psa::psa_metadata_json(request, info.seed, image.width, image.height,
                                                             summary.name, cond, adapterName)}});
            ++imagesDone;
            Q_EMIT imageReady(info);
        };
        const auto result = m_pipeline->generate(request, job);
        QStringList warnings;
        for (const auto& w : result.warnings) {
            spdlog::warn("{}", w);
            warnings << QString::fromStdString(w);
        }
        const bool cancelled = result.outcome == psa::Outcome::Cancelled;
        if (cancelled)
            spdlog::info("generation stopped after {} steps", result.completed_steps);
        else
            spdlog::info("generated {} image(s) in {:.1f} s", result.images.size(), result.seconds);
        Q_EMIT generationFinished(cancelled, result.seconds, warnings);
    } catch (const std::exception& e) {
        spdlog::error("generation failed: {}", e.what());
        Q_EMIT failed(tr("Generating"), QString::fromUtf8(e.what()));
    }
}

} // namespace psa::ui
