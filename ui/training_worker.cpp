// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/training_worker.h"

#include "common/allocator_tuning.h"
#include "common/error.h"
#include "pipeline/model_loading.h"
#include "training/preference_dataset.h"

#include <QDir>
#include <QFileInfo>

#include <spdlog/spdlog.h>

namespace psa::ui {

namespace {

// The CPU trains in fp32; on CUDA the weights may be half precision under autocast (trainer.h).
std::string modelDtypeFor(const psa::TrainConfig& c)
{
    if (c.device == "cpu" || c.mixed_precision == "no")
        return "fp32";
    if (c.mixed_precision == "bf16")
        return "bf16";
    return "auto"; // fp32 on the CPU, fp16 on CUDA
}

} // namespace

TrainingWorker::TrainingWorker(QObject* parent) : QObject(parent) {}

TrainingWorker::~TrainingWorker() = default;

void TrainingWorker::run(const TrainingJob& job, std::stop_token stop)
{
    try {
        m_trainer.reset();
        m_announcedSamples.clear();
        auto config = job.config;
        config.model = job.modelPath.toStdString();
        const QString key = job.modelPath + QLatin1Char('|') +
                            QString::fromStdString(config.device) + QLatin1Char('|') +
                            QString::fromStdString(modelDtypeFor(config));
        if (!m_model || key != m_modelKey) {
            m_model.reset(); // free the old weights before the new ones arrive
            psa::release_free_memory();
            Q_EMIT loading(tr("Loading model %1…").arg(job.modelPath));
            psa::LoadModelOptions options;
            options.device = config.device;
            options.dtype = modelDtypeFor(config);
            psa::JobControl control(stop, {});
            m_model = psa::load_model(job.modelPath.toStdString(), options, control);
            if (!m_model) { // cancelled while loading
                Q_EMIT stopped(0, QString());
                return;
            }
            m_modelKey = key;
        }
        Q_EMIT loading(tr("Reading the training pairs…"));
        m_trainer = std::make_unique<psa::DpoTrainer>(m_model, config, job.runFolder.toStdString());
        if (job.continueRun && !m_trainer->resume())
            throw psa::InvalidRequest(job.runFolder.toStdString() +
                                      " holds no checkpoint to continue from");
        // Samples already on disk belong to earlier sessions of this run: show them too.
        announceNewSamples();
    } catch (const std::exception& e) {
        m_trainer.reset();
        spdlog::error("training: {}", e.what());
        Q_EMIT failed(QString::fromUtf8(e.what()));
        return;
    }
    train(stop);
}

void TrainingWorker::proceed(std::stop_token stop)
{
    if (!m_trainer) {
        Q_EMIT failed(tr("There is no paused run to continue."));
        return;
    }
    train(stop);
}

void TrainingWorker::release()
{
    m_trainer.reset();
}

void TrainingWorker::train(std::stop_token stop)
{
    try {
        Q_EMIT started(m_trainer->step(), m_trainer->config().steps);
        psa::JobControl control(stop, {});
        const auto result = m_trainer->train(control, [this](const psa::TrainStepStats& stats) {
            Q_EMIT stepped(stats);
            // Samples of step N are written after step N's callback, so they show up here one
            // step later (and at the end).
            announceNewSamples();
        });
        announceNewSamples();
        if (result.outcome == psa::Outcome::Cancelled) {
            Q_EMIT stopped(result.steps_done,
                           QString::fromStdString(result.last_checkpoint.string()));
            return;
        }
        Q_EMIT completed(QString::fromStdString(result.adapter.string()), result.steps_done,
                         result.seconds);
        m_trainer.reset();
    } catch (const std::exception& e) {
        m_trainer.reset();
        spdlog::error("training: {}", e.what());
        Q_EMIT failed(QString::fromUtf8(e.what()));
    }
}

void TrainingWorker::announceNewSamples()
{
    if (!m_trainer)
        return;
    const QDir samples(QString::fromStdString((m_trainer->run_dir() / "samples").string()));
    for (const auto& folder :
         samples.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
        const QString name = folder.fileName(); // step-NNNNNNNN
        if (!name.startsWith(QStringLiteral("step-")) || m_announcedSamples.contains(name))
            continue;
        QStringList images;
        for (const auto& png :
             QDir(folder.absoluteFilePath())
                 .entryInfoList({QStringLiteral("*.png")}, QDir::Files, QDir::Name))
            images << png.absoluteFilePath();
        if (images.isEmpty())
            continue; // a step whose sampling was stopped before its first image
        m_announcedSamples.insert(name);
        Q_EMIT samplesWritten(name.mid(5).toInt(), images);
    }
}

} // namespace psa::ui
