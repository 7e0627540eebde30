// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/generation_panel.h"

#include "pipeline/sampler_names.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QRegularExpressionValidator>
#include <QSettings>
#include <QSpinBox>

#include <algorithm>
#include <cmath>

namespace psa::ui {

namespace {

int roundTo(double v, int factor) { return std::max(factor, static_cast<int>(std::lround(v / factor)) * factor); }

QPlainTextEdit* promptBox(QWidget* parent, const QString& name, const QString& accessible, const QString& placeholder,
                          int lines)
{
    auto* edit = new QPlainTextEdit(parent);
    edit->setObjectName(name);
    edit->setAccessibleName(accessible);
    edit->setPlaceholderText(placeholder);
    edit->setTabChangesFocus(true);
    edit->setMinimumHeight(edit->fontMetrics().lineSpacing() * lines + 12);
    return edit;
}

} // namespace

QList<QPair<QString, QSize>> sizePresets(int defaultSize, int factor)
{
    const int d = std::max(defaultSize, factor);
    const int three4 = roundTo(d * 3.0 / 4.0, factor);
    const int nine16 = roundTo(d * 9.0 / 16.0, factor);
    const int half = roundTo(d / 2.0, factor);
    const auto label = [](const QString& name, int w, int h) {
        return QStringLiteral("%1  %2 × %3").arg(name).arg(w).arg(h);
    };
    return {{label(GenerationPanel::tr("Square"), d, d), QSize(d, d)},
            {label(GenerationPanel::tr("Portrait 3:4"), three4, d), QSize(three4, d)},
            {label(GenerationPanel::tr("Landscape 4:3"), d, three4), QSize(d, three4)},
            {label(GenerationPanel::tr("Wide 16:9"), d, nine16), QSize(d, nine16)},
            {label(GenerationPanel::tr("Half size"), half, half), QSize(half, half)}};
}

GenerationPanel::GenerationPanel(QWidget* parent) : QWidget(parent)
{
    m_prompt = promptBox(this, QStringLiteral("prompt"), tr("Prompt"), tr("What to draw (Ctrl+Enter generates)"), 4);
    m_negative = promptBox(this, QStringLiteral("negativePrompt"), tr("Negative prompt"), tr("What to avoid"), 2);

    m_seedMode = new QComboBox(this);
    m_seedMode->setObjectName(QStringLiteral("seedMode"));
    m_seedMode->setAccessibleName(tr("Seed mode"));
    m_seedMode->addItem(tr("Random"), static_cast<int>(SeedMode::Random));
    m_seedMode->addItem(tr("Fixed"), static_cast<int>(SeedMode::Fixed));
    m_seedMode->addItem(tr("Reuse last"), static_cast<int>(SeedMode::ReuseLast));
    m_seed = new QLineEdit(QStringLiteral("0"), this);
    m_seed->setObjectName(QStringLiteral("seed"));
    m_seed->setAccessibleName(tr("Seed"));
    m_seed->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{1,19}")), m_seed));
    m_seed->setToolTip(tr("Image i of a batch uses seed + i. The same seed gives the same image on any device."));
    connect(m_seedMode, &QComboBox::currentIndexChanged, this,
            [this] { m_seed->setEnabled(seedMode() == SeedMode::Fixed); });
    m_seed->setEnabled(false);
    auto* seedRow = new QHBoxLayout;
    seedRow->addWidget(m_seedMode);
    seedRow->addWidget(m_seed, 1);

    m_steps = new QSpinBox(this);
    m_steps->setObjectName(QStringLiteral("steps"));
    m_steps->setAccessibleName(tr("Steps"));
    m_steps->setRange(1, 1000);
    m_steps->setValue(25);
    m_steps->setToolTip(tr("Denoising steps: more is slower and usually cleaner (20-30 is typical)."));

    m_guidance = new QDoubleSpinBox(this);
    m_guidance->setObjectName(QStringLiteral("guidance"));
    m_guidance->setAccessibleName(tr("Guidance scale"));
    m_guidance->setRange(0.0, 30.0);
    m_guidance->setSingleStep(0.5);
    m_guidance->setDecimals(1);
    m_guidance->setValue(7.5);
    m_guidance->setToolTip(tr("How closely the image follows the prompt (classifier-free guidance; 1 = off)."));

    m_sampler = new QComboBox(this);
    m_sampler->setObjectName(QStringLiteral("sampler"));
    m_sampler->setAccessibleName(tr("Sampler"));
    for (const auto& display : psa::sampler_display_names())
        m_sampler->addItem(QString::fromStdString(display), QString::fromStdString(psa::sampler_from_display_name(display)));
    m_sampler->setCurrentIndex(std::max(0, m_sampler->findData(QStringLiteral("dpmpp-2m-karras"))));

    m_size = new QComboBox(this);
    m_size->setObjectName(QStringLiteral("size"));
    m_size->setAccessibleName(tr("Image size"));
    setModelSize(512, 8);

    m_batch = new QSpinBox(this);
    m_batch->setObjectName(QStringLiteral("batch"));
    m_batch->setAccessibleName(tr("Batch size"));
    m_batch->setRange(1, 16);
    m_batch->setToolTip(tr("Images per click, each with the next seed."));

    auto* form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    form->addRow(tr("&Prompt"), m_prompt);
    form->addRow(tr("&Negative"), m_negative);
    // A row that is a layout gets no buddy from QFormLayout, and its label would show the '&'.
    auto* seedLabel = new QLabel(tr("S&eed"), this);
    seedLabel->setBuddy(m_seedMode);
    form->addRow(seedLabel, seedRow);
    form->addRow(tr("S&teps"), m_steps);
    form->addRow(tr("&Guidance"), m_guidance);
    form->addRow(tr("Sa&mpler"), m_sampler);
    form->addRow(tr("Si&ze"), m_size);
    form->addRow(tr("&Batch"), m_batch);
}

GenerationPanel::SeedMode GenerationPanel::seedMode() const
{
    return static_cast<SeedMode>(m_seedMode->currentData().toInt());
}

void GenerationPanel::offerPrompt(const QString& prompt)
{
    if (!prompt.isEmpty() && m_prompt->toPlainText().trimmed().isEmpty())
        m_prompt->setPlainText(prompt);
}

void GenerationPanel::setSeedMode(SeedMode mode)
{
    m_seedMode->setCurrentIndex(m_seedMode->findData(static_cast<int>(mode)));
}

psa::GenerationRequest GenerationPanel::takeRequest()
{
    psa::GenerationRequest r;
    r.prompt = m_prompt->toPlainText().toStdString();
    r.negative_prompt = m_negative->toPlainText().toStdString();
    switch (seedMode()) {
    case SeedMode::Random:
        r.seed = QRandomGenerator::global()->generate(); // 32-bit, like A1111's random seeds
        break;
    case SeedMode::ReuseLast:
        r.seed = m_hasLastSeed ? m_lastSeed : m_seed->text().toULongLong();
        break;
    case SeedMode::Fixed:
        r.seed = m_seed->text().toULongLong();
        break;
    }
    m_seed->setText(QString::number(r.seed));
    m_lastSeed = r.seed;
    m_hasLastSeed = true;
    r.steps = m_steps->value();
    r.guidance_scale = m_guidance->value();
    r.sampler = m_sampler->currentData().toString().toStdString();
    const QSize size = m_size->currentData().toSize();
    r.width = size.width();
    r.height = size.height();
    r.batch = m_batch->value();
    return r;
}

void GenerationPanel::setModelSize(int defaultSize, int factor)
{
    const QSize keep = m_size->currentData().toSize();
    m_size->clear();
    for (const auto& [label, size] : sizePresets(defaultSize, factor))
        m_size->addItem(label, size);
    // A size chosen for the previous model stays when it is one of the new presets.
    const int i = m_size->findData(keep);
    m_size->setCurrentIndex(i >= 0 ? i : 0);
}

void GenerationPanel::selectSize(const QSize& size)
{
    int i = m_size->findData(size);
    if (i < 0) {
        m_size->addItem(tr("Custom  %1 × %2").arg(size.width()).arg(size.height()), size);
        i = m_size->count() - 1;
    }
    m_size->setCurrentIndex(i);
}

void GenerationPanel::applySettings(const ParsedSettings& s)
{
    m_prompt->setPlainText(s.prompt);
    m_negative->setPlainText(s.negativePrompt);
    if (s.seed) {
        setSeedMode(SeedMode::Fixed);
        m_seed->setText(QString::number(*s.seed));
    }
    if (s.steps)
        m_steps->setValue(*s.steps);
    if (s.guidance)
        m_guidance->setValue(*s.guidance);
    if (s.sampler)
        m_sampler->setCurrentIndex(std::max(0, m_sampler->findData(*s.sampler)));
    if (s.size)
        selectSize(*s.size);
}

void GenerationPanel::saveSettings(QSettings& settings) const
{
    settings.setValue(QStringLiteral("generation/prompt"), m_prompt->toPlainText());
    settings.setValue(QStringLiteral("generation/negative"), m_negative->toPlainText());
    settings.setValue(QStringLiteral("generation/seedMode"), m_seedMode->currentData());
    settings.setValue(QStringLiteral("generation/seed"), m_seed->text());
    settings.setValue(QStringLiteral("generation/steps"), m_steps->value());
    settings.setValue(QStringLiteral("generation/guidance"), m_guidance->value());
    settings.setValue(QStringLiteral("generation/sampler"), m_sampler->currentData());
    settings.setValue(QStringLiteral("generation/batch"), m_batch->value());
}

void GenerationPanel::restoreSettings(const QSettings& settings)
{
    const auto value = [&](const char* key) { return settings.value(QStringLiteral("generation/") + QLatin1String(key)); };
    if (value("prompt").isValid())
        m_prompt->setPlainText(value("prompt").toString());
    m_negative->setPlainText(value("negative").toString());
    if (value("seedMode").isValid())
        setSeedMode(static_cast<SeedMode>(value("seedMode").toInt()));
    if (value("seed").isValid())
        m_seed->setText(value("seed").toString());
    if (value("steps").isValid())
        m_steps->setValue(value("steps").toInt());
    if (value("guidance").isValid())
        m_guidance->setValue(value("guidance").toDouble());
    if (value("sampler").isValid())
        m_sampler->setCurrentIndex(std::max(0, m_sampler->findData(value("sampler"))));
    if (value("batch").isValid())
        m_batch->setValue(value("batch").toInt());
}

} // namespace psa::ui
