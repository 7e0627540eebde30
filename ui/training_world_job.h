// SPDX-License-Identifier: GPL-3.0-or-later
// Generates a Sage-mini world (core/world generate_world) on its own thread for the wizard's data
// page, with progress and a stop that takes effect within one render.
#pragma once
#include <QObject>
#include <QString>

#include <stop_token>

class QThread;

namespace psa::ui {

class TrainingWorldJob : public QObject {
    Q_OBJECT
public:
    explicit TrainingWorldJob(QObject* parent = nullptr);
    /// Requests a stop and waits for the generator thread.
    ~TrainingWorldJob() override;

    bool isRunning() const { return m_thread != nullptr; }
    /// Writes a world of `users` virtual users into `outFolder` (which must not hold one yet).
    void start(const QString& outFolder, int users, quint64 seed);
    void cancel();

Q_SIGNALS:
    void progressed(int step, int total, QString what);
    /// The world is complete; `trainFolder` is its Sage-format train split.
    void finished(QString trainFolder, QString summary);
    void cancelled();
    void failed(QString message);

private:
    void threadDone();

    QThread* m_thread = nullptr;
    std::stop_source m_stop;
};

} // namespace psa::ui
