// SPDX-License-Identifier: GPL-3.0-or-later
// The worker that owns the loaded pipeline. It lives on its own QThread (GenerationController);
// requests arrive as queued calls, results leave as signals. Cancellation comes in through the
// std::stop_token each job is given, never as a queued call (STYLE.md 7).
#pragma once
#include "pipeline/generation.h"

#include <QImage>
#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>

#include <memory>
#include <stop_token>

namespace psa {
class Text2Image;
}

namespace psa::ui {

/// What the window shows about the loaded model.
struct ModelInfo {
    QString path;
    QString name, kind, device, dtype;
    QString adapterName; // empty: no adapter
    qint64 parameters = 0;
    int defaultSize = 0;
    int latentFactor = 8;
};

/// One progress event of a generation, with the pass it belongs to (conditions run in passes of
/// max_rows_per_pass rows; each pass runs every denoising step).
struct GenerationProgress {
    int stage = 0; // psa::Stage
    int step = 0, total = 0;
    int pass = 0, passes = 1;
    double ratePerSecond = 0.0;
    double etaSeconds = -1.0; // of the whole job; < 0 unknown
};

/// A generated image and where it was written (with its settings in the PNG).
struct GeneratedImageInfo {
    int condition = 0, batchIndex = 0;
    QString label; // condition label ("L3", a profile name); empty for a plain generation
    QImage image;
    QString path;
    quint64 seed = 0;
};

class InferenceWorker : public QObject {
    Q_OBJECT
public:
    InferenceWorker();
    ~InferenceWorker() override;

    /// Loads a diffusers folder or single file, then adapter.safetensors next to/in it when present.
    /// The previous model stays in use when loading fails or is cancelled.
    void loadModel(const QString& path, const QString& device, std::stop_token stop);
    void loadAdapter(const QString& path);
    /// Runs the request, writing each image into `outputDir` as it finishes.
    void generate(psa::GenerationRequest request, const QString& outputDir, std::stop_token stop);

Q_SIGNALS:
    void loadProgressed(int step, int total, const QString& detail);
    void modelLoaded(const psa::ui::ModelInfo& info);
    void modelLoadCancelled();
    void adapterLoaded(const QString& name);
    void generationProgressed(const psa::ui::GenerationProgress& progress);
    /// Cheap previews of the rows of the current pass; `firstCondition` is the pass's first condition.
    void previewsReady(int firstCondition, int step, const QList<QImage>& previews);
    void imageReady(const psa::ui::GeneratedImageInfo& image);
    void generationFinished(bool cancelled, double seconds, const QStringList& warnings);
    /// `what` says which job failed ("Loading the model"); `message` is the error text.
    void failed(const QString& what, const QString& message);

private:
    ModelInfo describe(const QString& path) const;
    std::unique_ptr<psa::Text2Image> m_pipeline;
    QString m_modelPath;
};

} // namespace psa::ui

Q_DECLARE_METATYPE(psa::ui::ModelInfo)
Q_DECLARE_METATYPE(psa::ui::GenerationProgress)
Q_DECLARE_METATYPE(psa::ui::GeneratedImageInfo)
