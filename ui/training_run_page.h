// SPDX-License-Identifier: GPL-3.0-or-later
// Wizard page 4: the run. Live loss and implicit-accuracy curves, learning rate, progress with
// time left, sample images as they are written, and Pause / Resume / Cancel.
#pragma once
#include "ui/training_controller.h"

#include <QWizardPage>

#include <functional>

class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;

namespace psa::ui {

class TrainingCurvesPlot;

class TrainingRunPage : public QWizardPage {
    Q_OBJECT
public:
    /// `controller` outlives the page; `jobSource` builds the job from the earlier pages.
    TrainingRunPage(TrainingController* controller, std::function<TrainingJob()> jobSource,
                    QWidget* parent = nullptr);

    /// Starts the run (once per visit; a run already going on is left alone).
    void initializePage() override;
    /// Done when the run completed.
    bool isComplete() const override;

    TrainingCurvesPlot* plot() const { return m_plot; }
    /// Sample images shown so far.
    int sampleCount() const;

private:
    void stateChanged(TrainingController::State state);
    void stepped(const psa::TrainStepStats& stats);
    void samplesWritten(int step, const QStringList& images);

    TrainingController* m_controller;
    std::function<TrainingJob()> m_jobSource;
    TrainingCurvesPlot* m_plot = nullptr;
    QLabel* m_status = nullptr;
    QLabel* m_numbers = nullptr;
    QProgressBar* m_progress = nullptr;
    QListWidget* m_samples = nullptr;
    QPushButton* m_pause = nullptr;
    QPushButton* m_resume = nullptr;
    QPushButton* m_cancel = nullptr;
};

} // namespace psa::ui
