// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/training_world_job.h"

#include "common/progress.h"
#include "world/world_generator.h"

#include <QDir>
#include <QMetaObject>
#include <QPointer>
#include <QThread>

#include <spdlog/spdlog.h>

namespace psa::ui {

TrainingWorldJob::TrainingWorldJob(QObject* parent) : QObject(parent) {}

TrainingWorldJob::~TrainingWorldJob()
{
    if (m_thread) {
        m_stop.request_stop();
        m_thread->wait();
        delete m_thread;
    }
}

void TrainingWorldJob::start(const QString& outFolder, int users, quint64 seed)
{
    if (m_thread)
        return;
    m_stop = std::stop_source{};
    psa::WorldGenerateOptions options;
    options.out = outFolder.toStdString();
    options.users = users;
    options.seed = seed;
    // Results travel back as queued calls on this object; QPointer guards a job deleted meanwhile
    // (the destructor waits for the thread, so `self` is valid while the lambda can still run).
    QPointer<TrainingWorldJob> self(this);
    const auto post = [self](auto&& fn) {
        QMetaObject::invokeMethod(
            self.data(),
            [self, fn] {
                if (self)
                    fn(self.data());
            },
            Qt::QueuedConnection);
    };
    m_thread = QThread::create([options, token = m_stop.get_token(), post, outFolder] {
        try {
            psa::JobControl job(token, [post](const psa::Progress& p) {
                const QString what = QString::fromStdString(p.detail);
                post([p, what](TrainingWorldJob* j) {
                    Q_EMIT j->progressed(p.step, p.total, what);
                });
            });
            const auto result = psa::generate_world(options, job);
            if (result.outcome == psa::Outcome::Cancelled) {
                post([](TrainingWorldJob* j) { Q_EMIT j->cancelled(); });
                return;
            }
            QString summary = QObject::tr("%1 images, %2 virtual people (%3 held out)")
                                  .arg(result.renders)
                                  .arg(result.users)
                                  .arg(result.unseen_users);
            const QString train = QDir(outFolder).filePath(QStringLiteral("train"));
            post([train, summary](TrainingWorldJob* j) { Q_EMIT j->finished(train, summary); });
        } catch (const std::exception& e) {
            spdlog::error("world generation: {}", e.what());
            const QString message = QString::fromUtf8(e.what());
            post([message](TrainingWorldJob* j) { Q_EMIT j->failed(message); });
        }
    });
    m_thread->setObjectName(QStringLiteral("world-generator"));
    connect(m_thread, &QThread::finished, this, &TrainingWorldJob::threadDone);
    m_thread->start();
}

void TrainingWorldJob::cancel()
{
    m_stop.request_stop();
}

void TrainingWorldJob::threadDone()
{
    if (!m_thread)
        return;
    m_thread->deleteLater();
    m_thread = nullptr;
}

} // namespace psa::ui
