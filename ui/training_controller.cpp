// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/training_controller.h"

#include <QMetaObject>

namespace psa::ui {

TrainingController::TrainingController(QObject* parent) : QObject(parent)
{
    qRegisterMetaType<psa::TrainStepStats>();
    qRegisterMetaType<psa::ui::TrainingJob>();
    m_thread.setObjectName(QStringLiteral("training"));
    m_worker = new TrainingWorker;
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &TrainingWorker::loading, this, &TrainingController::loading);
    connect(m_worker, &TrainingWorker::started, this, [this](int first, int total) {
        m_trainerHeld = true;
        Q_EMIT started(first, total);
    });
    connect(m_worker, &TrainingWorker::stepped, this, &TrainingController::stepped);
    connect(m_worker, &TrainingWorker::samplesWritten, this, &TrainingController::samplesWritten);
    connect(m_worker, &TrainingWorker::stopped, this, &TrainingController::onStopped);
    connect(m_worker, &TrainingWorker::completed, this,
            [this](const QString& adapter, int, double) {
                m_adapterPath = adapter;
                setState(State::Completed);
                Q_EMIT completed(adapter);
            });
    connect(m_worker, &TrainingWorker::failed, this, [this](const QString& message) {
        m_error = message;
        setState(State::Failed);
        Q_EMIT failed(message);
    });
    m_thread.start();
}

TrainingController::~TrainingController()
{
    m_stop.request_stop();
    m_thread.quit();
    m_thread.wait();
}

bool TrainingController::isBusy() const
{
    return m_state == State::Running || m_state == State::Pausing || m_state == State::Cancelling;
}

void TrainingController::start(const TrainingJob& job)
{
    if (isBusy())
        return;
    m_job = job;
    m_adapterPath.clear();
    m_error.clear();
    m_trainerHeld = false;
    m_stop = std::stop_source{};
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, job, t = m_stop.get_token()] { w->run(job, t); },
        Qt::QueuedConnection);
    setState(State::Running);
}

void TrainingController::pause()
{
    if (m_state != State::Running)
        return;
    m_stop.request_stop(); // the worker is busy in its job: never a queued call (STYLE.md 7)
    setState(State::Pausing);
}

void TrainingController::resume()
{
    if (m_state == State::Paused && !m_trainerHeld) { // paused while the model was loading
        setState(State::Cancelled);
        start(m_job);
    } else if (m_state == State::Paused) {
        m_stop = std::stop_source{};
        QMetaObject::invokeMethod(
            m_worker, [w = m_worker, t = m_stop.get_token()] { w->proceed(t); },
            Qt::QueuedConnection);
        setState(State::Running);
    } else if (m_state == State::Cancelled || m_state == State::Failed) {
        auto job = m_job;
        job.continueRun = !m_lastCheckpoint.isEmpty() || job.continueRun;
        start(job);
    }
}

void TrainingController::cancel()
{
    if (m_state == State::Running || m_state == State::Pausing) {
        m_stop.request_stop();
        setState(State::Cancelling);
    } else if (m_state == State::Paused) {
        m_trainerHeld = false;
        QMetaObject::invokeMethod(
            m_worker, [w = m_worker] { w->release(); }, Qt::QueuedConnection);
        setState(State::Cancelled);
    }
}

void TrainingController::onStopped(int, const QString& checkpoint)
{
    if (!checkpoint.isEmpty())
        m_lastCheckpoint = checkpoint;
    if (m_state == State::Pausing) {
        setState(State::Paused);
        return;
    }
    m_trainerHeld = false;
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker] { w->release(); }, Qt::QueuedConnection);
    setState(State::Cancelled);
}

void TrainingController::setState(State state)
{
    if (state == m_state)
        return;
    m_state = state;
    Q_EMIT stateChanged(state);
}

} // namespace psa::ui
