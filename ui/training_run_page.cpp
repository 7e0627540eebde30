// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/training_run_page.h"

#include "ui/plot_training_curves.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QIcon>
#include <QLabel>
#include <QListWidget>
#include <QPixmap>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

namespace psa::ui {

namespace {

QString clockText(double seconds)
{
    if (seconds < 0)
        return QObject::tr("unknown");
    const qint64 s = static_cast<qint64>(seconds + 0.5);
    if (s >= 3600)
        return QStringLiteral("%1:%2:%3")
            .arg(s / 3600)
            .arg((s / 60) % 60, 2, 10, QLatin1Char('0'))
            .arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

constexpr int kThumb = 96;

} // namespace

TrainingRunPage::TrainingRunPage(TrainingController* controller,
                                 std::function<TrainingJob()> jobSource, QWidget* parent)
    : QWizardPage(parent), m_controller(controller), m_jobSource(std::move(jobSource))
{
    setTitle(tr("Training"));
    setSubTitle(
        tr("The loss should fall and the accuracy rise. Pausing or cancelling keeps a checkpoint, "
           "so the run can continue later."));

    m_plot = new TrainingCurvesPlot;
    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("runStatus"));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_numbers = new QLabel;
    m_numbers->setObjectName(QStringLiteral("runNumbers"));
    m_progress = new QProgressBar;
    m_progress->setObjectName(QStringLiteral("runProgress"));
    m_progress->setAccessibleName(tr("Training progress"));
    m_progress->setFormat(tr("step %v of %m"));

    m_samples = new QListWidget;
    m_samples->setObjectName(QStringLiteral("runSamples"));
    m_samples->setAccessibleName(tr("Sample images"));
    m_samples->setViewMode(QListView::IconMode);
    m_samples->setIconSize(QSize(kThumb, kThumb));
    m_samples->setFlow(QListView::LeftToRight);
    m_samples->setWrapping(false);
    m_samples->setFixedHeight(kThumb + 48);
    m_samples->setMovement(QListView::Static);

    m_pause = new QPushButton(tr("&Pause"));
    m_resume = new QPushButton(tr("&Resume"));
    m_cancel = new QPushButton(tr("&Cancel run"));
    m_pause->setObjectName(QStringLiteral("pauseRun"));
    m_resume->setObjectName(QStringLiteral("resumeRun"));
    m_cancel->setObjectName(QStringLiteral("cancelRun"));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_progress, 1);
    buttons->addWidget(m_pause);
    buttons->addWidget(m_resume);
    buttons->addWidget(m_cancel);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_plot, 1);
    layout->addWidget(m_numbers);
    layout->addLayout(buttons);
    layout->addWidget(m_status);
    layout->addWidget(new QLabel(tr("Samples at fixed seeds (plain model, then per person):")));
    layout->addWidget(m_samples);

    connect(m_pause, &QPushButton::clicked, m_controller, &TrainingController::pause);
    connect(m_resume, &QPushButton::clicked, m_controller, &TrainingController::resume);
    connect(m_cancel, &QPushButton::clicked, m_controller, &TrainingController::cancel);
    connect(m_controller, &TrainingController::stateChanged, this, &TrainingRunPage::stateChanged);
    connect(m_controller, &TrainingController::stepped, this, &TrainingRunPage::stepped);
    connect(m_controller, &TrainingController::samplesWritten, this,
            &TrainingRunPage::samplesWritten);
    connect(m_controller, &TrainingController::loading, m_status, &QLabel::setText);
    connect(m_controller, &TrainingController::started, this, [this](int first, int total) {
        m_progress->setRange(0, total);
        m_progress->setValue(first);
        m_status->setText(first > 0 ? tr("Continuing at step %1 of %2.").arg(first).arg(total)
                                    : tr("Training…"));
    });
    stateChanged(m_controller->state());
}

void TrainingRunPage::initializePage()
{
    if (m_controller->hasUnfinishedRun() ||
        m_controller->state() == TrainingController::State::Completed)
        return;
    m_plot->clear();
    m_samples->clear();
    m_numbers->clear();
    m_progress->setRange(0, 0); // busy until the trainer reports its first step
    m_controller->start(m_jobSource());
}

bool TrainingRunPage::isComplete() const
{
    return m_controller->state() == TrainingController::State::Completed;
}

int TrainingRunPage::sampleCount() const
{
    return m_samples->count();
}

void TrainingRunPage::stateChanged(TrainingController::State state)
{
    using S = TrainingController::State;
    m_pause->setEnabled(state == S::Running);
    m_resume->setEnabled(state == S::Paused || state == S::Cancelled || state == S::Failed);
    m_cancel->setEnabled(state == S::Running || state == S::Pausing || state == S::Paused);
    switch (state) {
    case S::Pausing:
        m_status->setText(tr("Pausing after this step and writing a checkpoint…"));
        break;
    case S::Paused:
        m_status->setText(
            tr("Paused at %1.").arg(QFileInfo(m_controller->lastCheckpoint()).fileName()));
        break;
    case S::Cancelling:
        m_status->setText(tr("Stopping after this step and writing a checkpoint…"));
        break;
    case S::Cancelled:
        m_status->setText(
            m_controller->lastCheckpoint().isEmpty()
                ? tr("Cancelled before the first step.")
                : tr("Cancelled. Resume continues from %1.").arg(m_controller->lastCheckpoint()));
        break;
    case S::Completed:
        m_progress->setValue(m_progress->maximum());
        m_status->setText(tr("Done: %1").arg(m_controller->adapterPath()));
        break;
    case S::Failed:
        m_status->setStyleSheet(QStringLiteral("color: #c62828;"));
        m_status->setText(
            tr("The run stopped with an error:\n%1").arg(m_controller->errorMessage()));
        break;
    default:
        break;
    }
    if (state != S::Failed)
        m_status->setStyleSheet(QString());
    Q_EMIT completeChanged();
}

void TrainingRunPage::stepped(const psa::TrainStepStats& s)
{
    m_plot->addStep(s.step, s.loss, s.accuracy);
    m_progress->setRange(0, s.total_steps);
    m_progress->setValue(s.step);
    const auto& c = m_controller->job().config;
    const QString phase = s.step <= c.warmup_steps ? tr(" (warming up)") : QString();
    m_numbers->setText(tr("loss %1 · accuracy %2 · learning rate %3%4 · %5 steps/s · time left %6")
                           .arg(s.loss, 0, 'f', 4)
                           .arg(s.accuracy, 0, 'f', 2)
                           .arg(s.lr, 0, 'g', 3)
                           .arg(phase)
                           .arg(s.steps_per_second, 0, 'f', 2)
                           .arg(clockText(s.eta_seconds)));
}

void TrainingRunPage::samplesWritten(int step, const QStringList& images)
{
    // Newest first, so the latest state of the adapter is what the eye meets.
    int row = 0;
    for (const auto& path : images) {
        const QPixmap pixmap(path);
        auto* item = new QListWidgetItem(
            QIcon(pixmap.scaled(kThumb, kThumb, Qt::KeepAspectRatio, Qt::SmoothTransformation)),
            tr("step %1\n%2").arg(step).arg(QFileInfo(path).completeBaseName()));
        item->setToolTip(path);
        m_samples->insertItem(row++, item);
    }
}

} // namespace psa::ui
