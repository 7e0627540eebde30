// SPDX-License-Identifier: GPL-3.0-or-later
// The one long-lived QObject that owns the loaded model and the DPO trainer (STYLE.md 7). It lives
// on its own QThread; jobs arrive by queued invocation and results leave as signals.
#pragma once
#include "training/train_config.h"
#include "training/trainer.h"

#include <QObject>
#include <QSet>
#include <QString>
#include <QStringList>

#include <memory>
#include <stop_token>

namespace psa {
struct ModelComponents;
}

namespace psa::ui {

/// What one wizard run asks for.
struct TrainingJob {
    QString modelPath;        ///< diffusers folder or single-file checkpoint
    QString runFolder;        ///< checkpoints, samples and the final adapter go here
    psa::TrainConfig config;  ///< model and data_dir are taken from here too
    bool continueRun = false; ///< resume from the run folder's newest checkpoint
};

/// Loads the model (kept for the next job when the path and precision match), builds a
/// DpoTrainer and trains. Not thread-safe: every method runs on the worker thread. Stops are
/// requested through the std::stop_token the job was given, never by a queued call.
class TrainingWorker : public QObject {
    Q_OBJECT
public:
    explicit TrainingWorker(QObject* parent = nullptr);
    ~TrainingWorker() override;

    /// Loads, builds the trainer (resuming when job.continueRun) and trains until done or stopped.
    void run(const psa::ui::TrainingJob& job, std::stop_token stop);
    /// Continues the trainer held since the last stop (a pause) from where it stopped.
    void proceed(std::stop_token stop);
    /// Drops the trainer (the model stays loaded for a next run).
    void release();

Q_SIGNALS:
    void loading(QString what);
    void started(int firstStep, int totalSteps);
    void stepped(psa::TrainStepStats stats);
    /// New sample images (absolute PNG paths) of the run's samples/step-N/ folder.
    void samplesWritten(int step, QStringList images);
    /// The run stopped on request; `checkpoint` is its newest checkpoint folder (may be empty).
    void stopped(int step, QString checkpoint);
    void completed(QString adapterPath, int steps, double seconds);
    void failed(QString message);

private:
    void train(std::stop_token stop);
    void announceNewSamples();

    std::shared_ptr<psa::ModelComponents> m_model;
    QString m_modelKey; // path + precision of m_model
    std::unique_ptr<psa::DpoTrainer> m_trainer;
    QSet<QString> m_announcedSamples;
};

} // namespace psa::ui

Q_DECLARE_METATYPE(psa::TrainStepStats)
Q_DECLARE_METATYPE(psa::ui::TrainingJob)
