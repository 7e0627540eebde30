// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/plot_training_curves.h"

#include <QVBoxLayout>

// qcustomplot.h spells `signals:` and `foreach`, which QT_NO_KEYWORDS (STYLE.md 1) removes; lend
// it the keywords for this one include only. No torch header is ever in this translation unit.
#define signals Q_SIGNALS
#define foreach Q_FOREACH
#include <qcustomplot.h>
#undef foreach
#undef signals

#include <algorithm>

namespace psa::ui {

namespace {
constexpr int kLoss = 0;
constexpr int kAccuracy = 1;

QVector<double> values(const QCPGraph* graph, bool keys)
{
    QVector<double> out;
    for (auto it = graph->data()->constBegin(); it != graph->data()->constEnd(); ++it)
        out.push_back(keys ? it->key : it->value);
    return out;
}
} // namespace

TrainingCurvesPlot::TrainingCurvesPlot(QWidget* parent) : QWidget(parent)
{
    m_plot = new QCustomPlot(this);
    m_plot->setObjectName(QStringLiteral("trainingCurves"));
    m_plot->setAccessibleName(tr("Training loss and accuracy"));
    m_plot->setMinimumHeight(220);
    auto* loss = m_plot->addGraph(m_plot->xAxis, m_plot->yAxis);
    loss->setName(tr("DPO loss"));
    loss->setPen(QPen(QColor(0x15, 0x65, 0xc0), 2));
    auto* accuracy = m_plot->addGraph(m_plot->xAxis, m_plot->yAxis2);
    accuracy->setName(tr("implicit accuracy"));
    accuracy->setPen(QPen(QColor(0x2e, 0x7d, 0x32), 2));
    m_plot->xAxis->setLabel(tr("optimizer step"));
    m_plot->yAxis->setLabel(tr("loss"));
    m_plot->yAxis2->setLabel(tr("accuracy"));
    m_plot->yAxis2->setVisible(true);
    m_plot->yAxis2->setRange(0.0, 1.0);
    m_plot->legend->setVisible(true);
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    clear();
}

void TrainingCurvesPlot::addStep(int step, double loss, double accuracy)
{
    m_plot->graph(kLoss)->addData(step, loss);
    m_plot->graph(kAccuracy)->addData(step, accuracy);
    bool found = false;
    const auto lossRange = m_plot->graph(kLoss)->data()->valueRange(found);
    if (found) {
        const double pad = std::max(1e-3, 0.05 * lossRange.size());
        m_plot->yAxis->setRange(lossRange.lower - pad, lossRange.upper + pad);
    }
    m_plot->xAxis->setRange(0, std::max(1, step));
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void TrainingCurvesPlot::clear()
{
    m_plot->graph(kLoss)->data()->clear();
    m_plot->graph(kAccuracy)->data()->clear();
    m_plot->xAxis->setRange(0, 1);
    m_plot->yAxis->setRange(0, 1);
    m_plot->replot();
}

QVector<double> TrainingCurvesPlot::steps() const
{
    return values(m_plot->graph(kLoss), true);
}
QVector<double> TrainingCurvesPlot::losses() const
{
    return values(m_plot->graph(kLoss), false);
}
QVector<double> TrainingCurvesPlot::accuracies() const
{
    return values(m_plot->graph(kAccuracy), false);
}

} // namespace psa::ui
