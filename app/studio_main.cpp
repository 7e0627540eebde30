// SPDX-License-Identifier: GPL-3.0-or-later
// `psa-studio`: composition root of the desktop app. --headless (or no display) runs the main job
// without a window and prints where its output went.
#include "ui/headless_job.h"
#include "ui/main_window.h"

#include "common/log.h"
#include "tensor_io/device.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QGuiApplication>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv)
{
    bool headless = false;
    for (int i = 1; i < argc; ++i)
        if (std::string(argv[i]) == "--headless")
            headless = true;
    const bool has_display = std::getenv("DISPLAY") || std::getenv("WAYLAND_DISPLAY");
    if (!has_display && !std::getenv("QT_QPA_PLATFORM"))
        headless = true;
    if (headless)
        qputenv("QT_QPA_PLATFORM", "offscreen");

    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("psa-studio"));
    QApplication::setApplicationName(QStringLiteral("PSA Studio"));
    QApplication::setApplicationVersion(QStringLiteral(PSA_VERSION));
    QGuiApplication::setDesktopFileName(QStringLiteral("io.github.psa_studio.PsaStudio"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Personalized safety alignment for text-to-image diffusion"));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addOption({QStringLiteral("headless"), QStringLiteral("Run the main job without a window.")});
    parser.addPositionalArgument(QStringLiteral("file"), QStringLiteral("A file to open."), QStringLiteral("[file]"));
    parser.process(app);

    psa::init_logging();
    psa::configure_threads();

    if (headless) {
        try {
            const QString out = psa::ui::runHeadlessJob();
            std::printf("psa-studio: no display; ran headless. Output: %s\n", qPrintable(out));
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: %s\n", e.what());
            return 1;
        }
    }
    psa::ui::MainWindow window;
    if (!parser.positionalArguments().isEmpty())
        window.inspectFile(parser.positionalArguments().front());
    window.show();
    return app.exec();
}
