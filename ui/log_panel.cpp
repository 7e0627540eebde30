// SPDX-License-Identifier: GPL-3.0-or-later
// The sink formats on the logging thread and hands the line to the panel with a queued call: the
// panel is touched only on the GUI thread, and a worker that logs never waits for the GUI.
#include "ui/log_panel.h"

#include "common/log.h"

#include <QFontDatabase>
#include <QPointer>
#include <QTextCharFormat>
#include <QTextCursor>
#include <QTextDocument>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

namespace psa::ui {

namespace {

class PanelSink : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit PanelSink(LogPanel* panel) : m_panel(panel) {}
    void detach()
    {
        std::lock_guard lock(mutex_);
        m_panel.clear();
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override
    {
        if (!m_panel)
            return;
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        QString line = QString::fromUtf8(formatted.data(), static_cast<qsizetype>(formatted.size())).trimmed();
        const int level = static_cast<int>(msg.level);
        // Guarded by mutex_ (held by base_sink): detach() cannot run between the check and the call.
        QMetaObject::invokeMethod(m_panel.data(), [p = m_panel, line, level] {
            if (p)
                p->appendLine(line, level);
        }, Qt::QueuedConnection);
    }
    void flush_() override {}

private:
    QPointer<LogPanel> m_panel;
};

} // namespace

LogPanel::LogPanel(QWidget* parent) : QPlainTextEdit(parent)
{
    setReadOnly(true);
    setObjectName(QStringLiteral("logPanel"));
    setAccessibleName(tr("Log"));
    setMaximumBlockCount(5000);
    setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    auto sink = std::make_shared<PanelSink>(this);
    sink->set_pattern("%H:%M:%S %l %v");
    m_sink = sink;
    psa::add_log_sink(m_sink);
}

LogPanel::~LogPanel()
{
    static_cast<PanelSink*>(m_sink.get())->detach();
    if (auto logger = spdlog::default_logger()) {
        auto& sinks = logger->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), m_sink), sinks.end());
    }
}

void LogPanel::appendLine(const QString& line, int level)
{
    QTextCharFormat format;
    if (level >= spdlog::level::err)
        format.setForeground(QColor(0xc0, 0x1c, 0x28));
    else if (level == spdlog::level::warn)
        format.setForeground(QColor(0xa0, 0x5a, 0x00));
    QTextCursor cursor(document());
    cursor.movePosition(QTextCursor::End);
    if (!document()->isEmpty())
        cursor.insertBlock();
    cursor.insertText(line, format);
    ensureCursorVisible();
}

} // namespace psa::ui
