// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/generation_controller.h"

namespace psa::ui {

GenerationController::GenerationController(QObject* parent) : QObject(parent)
{
    qRegisterMetaType<psa::ui::ModelInfo>();
    qRegisterMetaType<psa::ui::GenerationProgress>();
    qRegisterMetaType<psa::ui::GeneratedImageInfo>();
    m_thread.setObjectName(QStringLiteral("inference"));
    m_worker = new InferenceWorker;
    m_worker->moveToThread(&m_thread);
    connect(m_worker, &InferenceWorker::modelLoaded, this, [this](const ModelInfo& info) {
        m_hasModel = true;
        m_model = info;
        Q_EMIT modelChanged(info);
        setState(State::Idle);
    });
    connect(m_worker, &InferenceWorker::modelLoadCancelled, this,
            [this] { setState(m_hasModel ? State::Idle : State::NoModel); });
    connect(m_worker, &InferenceWorker::generationFinished, this, [this] { setState(State::Idle); });
    // A failed load keeps the previous model (the worker swaps only on success).
    connect(m_worker, &InferenceWorker::failed, this,
            [this] { setState(m_hasModel ? State::Idle : State::NoModel); });
    m_thread.start();
}

GenerationController::~GenerationController()
{
    m_stop.request_stop();
    m_thread.quit();
    m_thread.wait();
    delete m_worker;
}

void GenerationController::setState(State state)
{
    if (m_state == state)
        return;
    m_state = state;
    Q_EMIT stateChanged(state);
}

bool GenerationController::startJob(State state)
{
    if (isBusy())
        return false;
    m_stop = std::stop_source{};
    setState(state);
    return true;
}

bool GenerationController::loadModel(const QString& path, const QString& device)
{
    if (!startJob(State::Loading))
        return false;
    QMetaObject::invokeMethod(m_worker, [w = m_worker, path, device, t = m_stop.get_token()] {
        w->loadModel(path, device, t);
    }, Qt::QueuedConnection);
    return true;
}

bool GenerationController::loadAdapter(const QString& path)
{
    if (!m_hasModel || !startJob(State::Loading))
        return false;
    QMetaObject::invokeMethod(m_worker, [w = m_worker, path] { w->loadAdapter(path); }, Qt::QueuedConnection);
    return true;
}

bool GenerationController::generate(const psa::GenerationRequest& request, const QString& outputDir)
{
    if (!m_hasModel || !startJob(State::Generating))
        return false;
    QMetaObject::invokeMethod(m_worker, [w = m_worker, request, outputDir, t = m_stop.get_token()] {
        w->generate(request, outputDir, t);
    }, Qt::QueuedConnection);
    return true;
}

void GenerationController::cancel()
{
    if (m_state != State::Generating && m_state != State::Loading)
        return;
    m_stop.request_stop();
    if (m_state == State::Generating)
        setState(State::Cancelling);
}

} // namespace psa::ui
