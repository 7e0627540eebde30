// SPDX-License-Identifier: GPL-3.0-or-later
// The main window's file side: settings read back from PNGs (drop, menu, "reuse these settings"),
// saving an image or the strip, the viewer, and drag and drop of models and PNGs.
#include "ui/main_window.h"

#include "ui/gallery_panel.h"
#include "ui/generation_panel.h"
#include "ui/image_viewer.h"
#include "ui/output_files.h"
#include "ui/parameters_settings.h"
#include "ui/preview_strip.h"
#include "ui/safety_panel.h"

#include "pipeline/generation.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QMimeData>
#include <QStatusBar>

#include <spdlog/spdlog.h>

namespace psa::ui {

namespace {

bool isModelPath(const QFileInfo& f)
{
    return f.isDir() || f.suffix().compare(QLatin1String("safetensors"), Qt::CaseInsensitive) == 0;
}

} // namespace

bool MainWindow::applySettingsFromFile(const QString& path)
{
    try {
        const auto parameters = readPngParameters(path);
        if (!parameters) {
            showError(tr("Reading settings"), tr("%1 holds no generation settings (no \"parameters\" text).").arg(path));
            return false;
        }
        const auto settings = settingsFromParameters(*parameters);
        m_generation->applySettings(settings);
        if (settings.adapterStrength)
            m_safety->setStrength(*settings.adapterStrength);
        if (!settings.problems.isEmpty())
            showError(tr("Reading settings"), tr("%1: some settings were not used:\n%2").arg(path, settings.problems.join(QLatin1Char('\n'))));
        statusBar()->showMessage(tr("Settings read from %1").arg(QFileInfo(path).fileName()), 5000);
        spdlog::info("settings read from {}", path.toStdString());
        return true;
    } catch (const std::exception& e) {
        showError(tr("Reading settings"), QString::fromUtf8(e.what()));
        return false;
    }
}

void MainWindow::chooseSettingsPng()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Read settings from a PNG"), m_gallery->folder(),
                                                      tr("PNG images (*.png)"));
    if (!path.isEmpty())
        applySettingsFromFile(path);
}

void MainWindow::saveCurrent()
{
    if (m_strip->finishedCount() > 1)
        saveStrip();
    else if (m_strip->finishedCount() == 1)
        for (int i = 0; i < m_strip->cellCount(); ++i)
            if (!m_strip->finalImage(i).isNull())
                saveCell(i);
}

void MainWindow::saveCell(int cell)
{
    const QString source = m_strip->path(cell);
    const QString target = QFileDialog::getSaveFileName(this, tr("Save image"), QFileInfo(source).fileName(),
                                                        tr("PNG images (*.png)"));
    if (target.isEmpty())
        return;
    QFile::remove(target);
    if (!QFile::copy(source, target)) // the copy keeps the settings in its text chunks
        showError(tr("Saving the image"), tr("Could not write %1.").arg(target));
}

void MainWindow::saveStrip()
{
    QList<QPair<QString, QImage>> tiles;
    for (int i = 0; i < m_strip->cellCount(); ++i)
        if (!m_strip->finalImage(i).isNull())
            tiles.append({m_strip->label(i), m_strip->finalImage(i)});
    if (tiles.isEmpty())
        return;
    const QString target = QFileDialog::getSaveFileName(this, tr("Save the strip"),
                                                        QStringLiteral("strip-%1.png").arg(m_request.seed),
                                                        tr("PNG images (*.png)"));
    if (target.isEmpty())
        return;
    try {
        const QImage& first = tiles.front().second;
        writePngWithText(target, composeStrip(tiles),
                         {{"parameters", psa::a1111_parameters_text(m_request, m_request.seed, first.width(), first.height(),
                                                                     m_controller->model().name.toStdString())}});
        statusBar()->showMessage(tr("Strip saved to %1").arg(target), 5000);
    } catch (const std::exception& e) {
        showError(tr("Saving the strip"), QString::fromUtf8(e.what()));
    }
}

void MainWindow::openViewer(const QList<int>& cells)
{
    QList<ImageViewer::Entry> entries;
    for (int c : cells)
        entries.append({m_strip->label(c), m_strip->finalImage(c), m_strip->path(c)});
    auto* viewer = new ImageViewer(entries, this);
    connect(viewer, &ImageViewer::reuseSettingsRequested, this, &MainWindow::applySettingsFromFile);
    viewer->show();
}

void MainWindow::openGalleryImage(const QString& path)
{
    QImage image(path);
    if (image.isNull()) {
        showError(tr("Opening an image"), tr("%1 could not be read as an image.").arg(path));
        return;
    }
    auto* viewer = new ImageViewer({{QFileInfo(path).completeBaseName(), image, path}}, this);
    connect(viewer, &ImageViewer::reuseSettingsRequested, this, &MainWindow::applySettingsFromFile);
    viewer->show();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event)
{
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event)
{
    for (const QUrl& url : event->mimeData()->urls()) {
        if (!url.isLocalFile())
            continue;
        const QFileInfo f(url.toLocalFile());
        if (f.suffix().compare(QLatin1String("png"), Qt::CaseInsensitive) == 0)
            applySettingsFromFile(f.absoluteFilePath());
        else if (f.isFile() && f.fileName().contains(QLatin1String("adapter"), Qt::CaseInsensitive) && isModelPath(f))
            loadAdapter(f.absoluteFilePath()); // a file named like an adapter is one; any other .safetensors is a model
        else if (isModelPath(f))
            openModel(f.absoluteFilePath());
        else
            showError(tr("Dropped file"), tr("%1 is neither a model (folder or .safetensors) nor a PNG with settings.")
                                              .arg(f.absoluteFilePath()));
        event->acceptProposedAction();
        return; // one file per drop: a second model load would be refused anyway
    }
}

} // namespace psa::ui
