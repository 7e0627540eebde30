// SPDX-License-Identifier: GPL-3.0-or-later
// The generation settings: prompts, seed, steps, guidance, sampler, size and batch.
#pragma once
#include "ui/parameters_settings.h"

#include "pipeline/generation.h"

#include <QList>
#include <QPair>
#include <QSize>
#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QPlainTextEdit;
class QSettings;
class QSpinBox;

namespace psa::ui {

/// Size presets for a model whose native size is `defaultSize` (square first), every side a
/// multiple of `factor`: square, portrait 3:4, landscape 4:3, wide 16:9, half size.
QList<QPair<QString, QSize>> sizePresets(int defaultSize, int factor);

class GenerationPanel : public QWidget {
    Q_OBJECT
public:
    enum class SeedMode { Random, Fixed, ReuseLast };

    explicit GenerationPanel(QWidget* parent = nullptr);

    /// The request the fields describe, without conditions. Draws the seed (random mode: a new
    /// one, shown in the seed field; reuse: the last one used) and remembers it as the last seed.
    psa::GenerationRequest takeRequest();

    void setModelSize(int defaultSize, int factor);
    /// Fills the fields that `settings` holds; a seed switches to fixed mode. Unknown sizes become
    /// a "custom" entry.
    void applySettings(const ParsedSettings& settings);

    SeedMode seedMode() const;
    void setSeedMode(SeedMode mode);
    /// Puts `prompt` into the prompt box when the box is empty (a model's example prompt on first
    /// start); never replaces what the person wrote.
    void offerPrompt(const QString& prompt);
    std::uint64_t lastSeed() const { return m_lastSeed; }

    void saveSettings(QSettings& settings) const;
    void restoreSettings(const QSettings& settings);

    QPlainTextEdit* promptEdit() const { return m_prompt; }

private:
    void selectSize(const QSize& size);
    QPlainTextEdit* m_prompt = nullptr;
    QPlainTextEdit* m_negative = nullptr;
    QComboBox* m_seedMode = nullptr;
    QLineEdit* m_seed = nullptr;
    QSpinBox* m_steps = nullptr;
    QDoubleSpinBox* m_guidance = nullptr;
    QComboBox* m_sampler = nullptr;
    QComboBox* m_size = nullptr;
    QSpinBox* m_batch = nullptr;
    std::uint64_t m_lastSeed = 0;
    bool m_hasLastSeed = false;
};

} // namespace psa::ui
