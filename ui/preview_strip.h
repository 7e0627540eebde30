// SPDX-License-Identifier: GPL-3.0-or-later
// The result area: one cell per image of a job (the batch, or the L0...L5 strip), each filling in
// from intermediate previews to the final image, with its own progress bar. Click enlarges; two
// ticked cells can be compared side by side.
#pragma once
#include <QImage>
#include <QList>
#include <QWidget>

class QCheckBox;
class QHBoxLayout;
class QLabel;
class QProgressBar;
class QPushButton;

namespace psa::ui {

class PreviewStrip : public QWidget {
    Q_OBJECT
public:
    explicit PreviewStrip(QWidget* parent = nullptr);

    /// Empties the strip and makes one cell per label.
    void reset(const QStringList& labels);
    int cellCount() const { return static_cast<int>(m_cells.size()); }
    /// Cells that hold their final image.
    int finishedCount() const;

    void setPreview(int cell, const QImage& image);
    void setFinalImage(int cell, const QImage& image, const QString& path);
    void setCellProgress(int cell, int step, int total);
    /// Marks the cells that never finished (a cancelled job).
    void markUnfinishedCancelled();

    QString label(int cell) const;
    QImage finalImage(int cell) const;
    QString path(int cell) const;
    /// The cells ticked for comparison, in order.
    QList<int> comparedCells() const;
    void setCompared(int cell, bool compared);

Q_SIGNALS:
    void cellActivated(int cell);
    void compareRequested(int first, int second);
    void saveCellRequested(int cell);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    struct Cell {
        QWidget* frame = nullptr;
        QLabel* title = nullptr;
        QLabel* picture = nullptr;
        QProgressBar* progress = nullptr;
        QCheckBox* compare = nullptr;
        QImage shown;
        QImage final;
        QString path;
    };
    void showImage(Cell& cell, const QImage& image);
    void updateCompareButton();
    QList<Cell> m_cells;
    QHBoxLayout* m_row = nullptr;
    QPushButton* m_compareButton = nullptr;
    QLabel* m_placeholder = nullptr;
};

} // namespace psa::ui
