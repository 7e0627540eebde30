// SPDX-License-Identifier: GPL-3.0-or-later
// Live DPO curves of a training run: loss (left axis) and implicit preference accuracy (right
// axis, 0-1) against the optimizer step. Hides QCustomPlot from the rest of the ui.
#pragma once
#include <QVector>
#include <QWidget>

class QCustomPlot;

namespace psa::ui {

/// A plot that grows by one point per optimizer step. GUI thread only.
class TrainingCurvesPlot : public QWidget {
    Q_OBJECT
public:
    explicit TrainingCurvesPlot(QWidget* parent = nullptr);

    /// Appends the values of one optimizer step and rescales the step and loss axes.
    void addStep(int step, double loss, double accuracy);
    void clear();

    /// What is plotted, in step order (for tests and for saving).
    QVector<double> steps() const;
    QVector<double> losses() const;
    QVector<double> accuracies() const;

private:
    QCustomPlot* m_plot = nullptr;
};

} // namespace psa::ui
