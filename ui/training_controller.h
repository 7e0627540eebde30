// SPDX-License-Identifier: GPL-3.0-or-later
// GUI-side state machine of a training run: owns the worker thread and one std::stop_source per
// job (STYLE.md 7). Pause is a stop that keeps the trainer (a checkpoint is written on every
// stop); cancel also drops it. A cancelled run continues later from its checkpoint.
#pragma once
#include "ui/training_worker.h"

#include <QObject>
#include <QThread>

#include <stop_token>

namespace psa::ui {

class TrainingController : public QObject {
    Q_OBJECT
public:
    enum class State { Idle, Running, Pausing, Paused, Cancelling, Cancelled, Completed, Failed };
    Q_ENUM(State)

    explicit TrainingController(QObject* parent = nullptr);
    /// Requests a stop and waits for the worker: at most one training step, plus the checkpoint.
    ~TrainingController() override;

    State state() const { return m_state; }
    /// Running, pausing or cancelling: the worker thread is busy.
    bool isBusy() const;
    /// A run exists that has not completed (busy or paused).
    bool hasUnfinishedRun() const { return isBusy() || m_state == State::Paused; }
    QString adapterPath() const { return m_adapterPath; }
    QString lastCheckpoint() const { return m_lastCheckpoint; }
    QString errorMessage() const { return m_error; }
    const TrainingJob& job() const { return m_job; }

    void start(const TrainingJob& job);
    void pause();
    /// Continues after a pause (same trainer) or after a cancel (from the newest checkpoint).
    void resume();
    void cancel();

Q_SIGNALS:
    void stateChanged(psa::ui::TrainingController::State state);
    void loading(QString what);
    void started(int firstStep, int totalSteps);
    void stepped(psa::TrainStepStats stats);
    void samplesWritten(int step, QStringList images);
    void completed(QString adapterPath);
    void failed(QString message);

private:
    void setState(State state);
    void onStopped(int step, const QString& checkpoint);

    QThread m_thread;
    TrainingWorker* m_worker = nullptr; // lives on m_thread
    std::stop_source m_stop;
    State m_state = State::Idle;
    bool m_trainerHeld =
        false; // the worker built the trainer of this run (a pause can continue it)
    TrainingJob m_job;
    QString m_adapterPath, m_lastCheckpoint, m_error;
};

} // namespace psa::ui
