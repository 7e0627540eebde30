// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/main_window.h"

#include "ui/about_dialog.h"

#include "tensor_io/inspect.h"

#include <QCloseEvent>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFontDatabase>
#include <QMenuBar>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QSettings>
#include <QStatusBar>

namespace psa::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent)
{
    setWindowTitle(tr("PSA Studio"));
    setAcceptDrops(true);
    m_view = new QPlainTextEdit(this);
    m_view->setReadOnly(true);
    m_view->setAccessibleName(tr("File contents"));
    m_view->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_view->setPlaceholderText(tr("Open or drop a .safetensors or .npy file to list its tensors."));
    setCentralWidget(m_view);

    auto* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open…"), QKeySequence::Open, this, &MainWindow::openFile);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    auto* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About PSA Studio"), this, [this] { showAboutDialog(this); });

    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("mainWindow/geometry")).toByteArray());
    if (!settings.contains(QStringLiteral("mainWindow/geometry")))
        resize(900, 600);
    statusBar()->showMessage(tr("Ready"));
}

void MainWindow::inspectFile(const QString& path)
{
    try {
        m_view->setPlainText(QString::fromStdString(psa::inspect_file(path.toStdString())));
        statusBar()->showMessage(path);
    } catch (const std::exception& e) {
        m_view->setPlainText(tr("Cannot read this file:\n%1").arg(QString::fromStdString(e.what())));
        statusBar()->showMessage(tr("Error"));
    }
}

void MainWindow::openFile()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Open a tensor file"), {},
                                                      tr("Tensor files (*.safetensors *.npy)"));
    if (!path.isEmpty())
        inspectFile(path);
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    QSettings().setValue(QStringLiteral("mainWindow/geometry"), saveGeometry());
    QMainWindow::closeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event)
{
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event)
{
    const auto urls = event->mimeData()->urls();
    if (!urls.isEmpty() && urls.front().isLocalFile())
        inspectFile(urls.front().toLocalFile());
}

} // namespace psa::ui
