// SPDX-License-Identifier: GPL-3.0-or-later
// GUI-side owner of the inference worker and its thread: the state machine the window follows,
// and the std::stop_source of the running job (cancel is a direct call, never a queued one).
#pragma once
#include "ui/inference_worker.h"

#include <QObject>
#include <QThread>

#include <stop_token>

namespace psa::ui {

class GenerationController : public QObject {
    Q_OBJECT
public:
    enum class State { NoModel, Loading, Idle, Generating, Cancelling };
    Q_ENUM(State)

    explicit GenerationController(QObject* parent = nullptr);
    /// Stops a running job (within one step), then ends the worker thread.
    ~GenerationController() override;

    State state() const { return m_state; }
    bool hasModel() const { return m_hasModel; }
    bool isBusy() const { return m_state == State::Loading || m_state == State::Generating || m_state == State::Cancelling; }
    const ModelInfo& model() const { return m_model; }

    /// Each returns false (and does nothing) while another job runs.
    bool loadModel(const QString& path, const QString& device = QStringLiteral("auto"));
    bool loadAdapter(const QString& path);
    bool generate(const psa::GenerationRequest& request, const QString& outputDir);
    /// Asks the running load or generation to stop; it ends within one step.
    void cancel();

    InferenceWorker* worker() const { return m_worker; }

Q_SIGNALS:
    void stateChanged(psa::ui::GenerationController::State state);
    void modelChanged(const psa::ui::ModelInfo& info);

private:
    void setState(State state);
    bool startJob(State state);
    QThread m_thread;
    InferenceWorker* m_worker = nullptr;
    std::stop_source m_stop;
    State m_state = State::NoModel;
    bool m_hasModel = false;
    ModelInfo m_model;
};

} // namespace psa::ui
