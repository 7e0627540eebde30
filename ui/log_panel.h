// SPDX-License-Identifier: GPL-3.0-or-later
// The log dock: everything the "psa" logger writes (core and ui), fed by an spdlog sink.
#pragma once
#include <QPlainTextEdit>

#include <memory>

namespace spdlog::sinks {
class sink;
}

namespace psa::ui {

/// Read-only view of log lines. While it lives it is attached to the default logger; lines logged
/// on any thread arrive through a queued signal. Warnings and errors are shown in colour.
class LogPanel : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit LogPanel(QWidget* parent = nullptr);
    ~LogPanel() override;

    void appendLine(const QString& line, int level); // level: spdlog::level::level_enum

private:
    std::shared_ptr<spdlog::sinks::sink> m_sink;
};

} // namespace psa::ui
