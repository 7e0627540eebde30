// SPDX-License-Identifier: GPL-3.0-or-later
// `psa-studio`: composition root of the desktop app. --headless (or no display) renders the L0-L5
// preview strip of the default model without a window and prints where it went.
#include "ui/headless_job.h"
#include "ui/main_window.h"

#include "common/log.h"
#include "common/allocator_tuning.h"
#include "common/omp_wait_policy.h"
#include "tensor_io/device.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QGuiApplication>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

int main(int argc, char** argv)
{
    psa::ensure_passive_omp_wait(argv); // may re-execute this program once; before any thread starts
    psa::keep_freed_tensor_memory();
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
    parser.addOption({QStringLiteral("headless"), QStringLiteral("Render the L0-L5 preview strip without a window.")});
    parser.addOption({QStringLiteral("prompt"), QStringLiteral("Prompt of the headless strip."), QStringLiteral("text")});
    parser.addOption({QStringLiteral("seed"), QStringLiteral("Seed of the headless strip (default 1)."), QStringLiteral("n")});
    parser.addOption({QStringLiteral("steps"), QStringLiteral("Steps of the headless strip (default 20)."), QStringLiteral("n")});
    parser.addPositionalArgument(QStringLiteral("model"),
                                 QStringLiteral("A diffusers model folder or single-file .safetensors to open."),
                                 QStringLiteral("[model]"));
    parser.process(app);

    psa::init_logging();
    psa::configure_threads();
    const QString model = parser.positionalArguments().value(0);

    if (headless) {
        try {
            psa::ui::HeadlessOptions options;
            options.model = model;
            if (parser.isSet(QStringLiteral("prompt")))
                options.prompt = parser.value(QStringLiteral("prompt"));
            bool ok = true;
            if (parser.isSet(QStringLiteral("seed"))) {
                options.seed = parser.value(QStringLiteral("seed")).toULongLong(&ok);
                if (!ok)
                    throw std::invalid_argument("--seed: \"" + parser.value(QStringLiteral("seed")).toStdString() +
                                                "\" is not a non-negative integer");
            }
            if (parser.isSet(QStringLiteral("steps"))) {
                options.steps = parser.value(QStringLiteral("steps")).toInt(&ok);
                if (!ok || options.steps < 1)
                    throw std::invalid_argument("--steps: \"" + parser.value(QStringLiteral("steps")).toStdString() +
                                                "\" is not a positive number");
            }
            const QString out = psa::ui::runHeadlessJob(options, [](const QString& line) {
                std::fprintf(stderr, "psa-studio: %s\n", qPrintable(line));
            });
            std::printf("psa-studio: no display; ran headless. Output: %s\n", qPrintable(out));
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: %s\n", e.what());
            return 1;
        }
    }
    psa::ui::MainWindow window(model);
    window.show();
    return app.exec();
}
