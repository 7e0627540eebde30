// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/training_settings_page.h"

#include "common/error.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QScrollArea>
#include <QSpinBox>
#include <QVBoxLayout>

#include <algorithm>
#include <limits>

namespace psa::ui {

namespace {

QString number(double v)
{
    return QString::number(v, 'g', 6);
}

// Parses a decimal or scientific number ("5e-6"); nullopt when the text is not one.
std::optional<double> parseNumber(const QString& text)
{
    bool ok = false;
    const double v = text.trimmed().toDouble(&ok);
    return ok ? std::optional<double>(v) : std::nullopt;
}

} // namespace

psa::TrainConfig TrainingSettingsPage::defaultSettings()
{
    psa::TrainConfig c; // the reference recipe's lr, beta and dropouts
    // A first local run should finish in an evening and show progress early.
    c.steps = 500;
    c.warmup_steps = 50;
    c.checkpoint_every = 50;
    c.sample_every = 100;
    // One token per category: banning one category leaves the others' tokens alone. It measured
    // better than the paper's single token on the demo world (docs/demo-model.md, "Eighth round").
    c.token_layout = psa::kPerCategoryTokens;
    return c;
}

TrainingSettingsPage::TrainingSettingsPage(QWidget* parent) : QWizardPage(parent)
{
    setTitle(tr("Settings"));
    setSubTitle(tr("The defaults follow the paper's recipe; small models usually want a larger "
                   "learning rate and a smaller beta."));
    auto* content = new QWidget;
    m_form = new QFormLayout(content);

    m_steps = intField(QStringLiteral("steps"), 1, 1000000);
    addRow(tr("Steps:"), m_steps, tr("Optimizer updates. More steps learn more, and take longer."));
    m_batch = intField(QStringLiteral("batch"), 1, 4096);
    addRow(tr("Pairs per batch:"), m_batch,
           tr("Preference pairs seen together; limited by memory."));
    m_accum = intField(QStringLiteral("grad_accum"), 1, 4096);
    addRow(tr("Accumulation:"), m_accum,
           tr("Batches summed per update: a larger effective batch without more memory."));
    m_lr = numberField(QStringLiteral("lr"));
    addRow(tr("Learning rate:"), m_lr,
           tr("Step size of AdamW, e.g. 5e-6 for Stable Diffusion 1.5, 5e-3 for tiny models."));
    m_warmup = intField(QStringLiteral("warmup_steps"), 0, 1000000);
    addRow(tr("Warm-up steps:"), m_warmup,
           tr("The learning rate rises linearly over these first steps."));
    m_beta = numberField(QStringLiteral("beta_dpo"));
    addRow(
        tr("DPO beta:"), m_beta,
        tr("How strongly the adapter may move away from the base model (larger = more cautious)."));
    m_sft = numberField(QStringLiteral("sft_weight"));
    addRow(tr("Keep-chosen weight:"), m_sft,
           tr("Also trains on the preferred image itself, so that subjects and allowed content "
              "survive the suppression; 0 is the paper's pure DPO."));
    m_anchor = numberField(QStringLiteral("anchor_weight"));
    addRow(tr("Keep-the-rest weight:"), m_anchor,
           tr("Holds the model where a pair's two images agree, so that the adapter changes only the "
              "content in question and keeps scene and subject; 0 is the paper's pure DPO, the demo "
              "adapter used 10."));
    m_anchorAllowed = checkField(tr("also where the person allows the content"),
                                 QStringLiteral("anchor_allowed"));
    addRow(tr("Keep allowed content:"), m_anchorAllowed,
           tr("Holds the whole picture where a pair's person allows its category, so that banning one "
              "category does not take allowed content with it. Needs a \"category\" on each line of "
              "the data."));
    m_counterpart = numberField(QStringLiteral("counterpart_weight"));
    addRow(tr("Replace-with-safe weight:"), m_counterpart,
           tr("Also trains the preferred image where a pair's two images differ: the harmless "
              "counterpart that takes the place of the content in question, so that the adapter does "
              "not fill that place with something else. 0 is the paper's pure DPO, the demo adapter "
              "used 5."));
    m_counterpartBanned = checkField(tr("only where the person bans the content"),
                                     QStringLiteral("counterpart_banned"));
    addRow(tr("Replace only banned content:"), m_counterpartBanned,
           tr("Limits the replace-with-safe term to pairs whose person bans their category; the demo "
              "adapter used it. Needs a \"category\" on each line of the data."));
    m_tokens = new QComboBox;
    m_tokens->setObjectName(QStringLiteral("user_tokens"));
    m_tokens->addItem(tr("one per category"), QString::fromLatin1(psa::kPerCategoryTokens));
    m_tokens->addItem(tr("1 token (the paper's design)"), QStringLiteral("1"));
    m_tokens->addItem(tr("4 tokens"), QStringLiteral("4"));
    m_tokensNote = new QLabel;
    m_tokensNote->setObjectName(QStringLiteral("userTokensNote"));
    m_tokensNote->setWordWrap(true);
    m_tokensNote->hide();
    addRow(tr("User tokens:"), m_tokens,
           tr("How the profile enters the adapter. One token per category reads only that "
              "category's ban, so banning one category leaves the others alone; the paper feeds the "
              "whole profile through one token."))
        ->addWidget(m_tokensNote);
    m_banMixing = new QDoubleSpinBox;
    m_banMixing->setObjectName(QStringLiteral("ban_mixing"));
    m_banMixing->setRange(0, 1);
    m_banMixing->setSingleStep(0.1);
    m_banMixing->setSpecialValueText(tr("off"));
    addRow(tr("Mix other bans:"), m_banMixing,
           tr("Share of pairs trained with the other categories' bans taken from another person of "
              "the data. People tend to ban categories together; mixing keeps one category's ban "
              "from switching off the ones a person allows. One token per category only; needs a "
              "\"category\" on each line of the data. The demo adapter used 1."));
    m_tokensAtCaptions = checkField(tr("start each token at its category's prompts"),
                                    QStringLiteral("token_start"));
    addRow(tr("Token start:"), m_tokensAtCaptions,
           tr("Starts each category's token from the prompts of that category's pairs, so that from "
              "the first step the adapter acts where the prompt's words for that category are drawn; "
              "otherwise the tokens start random and alike. One token per category only, not when "
              "fine-tuning an adapter; needs a \"category\" on each line of the data. The demo "
              "adapter started this way."));
    m_freezeUserKeys = checkField(tr("keep each token on its category's words"), QStringLiteral("freeze_user_keys"));
    addRow(tr("Token routing:"), m_freezeUserKeys,
           tr("Leaves where the image looks for each token as it started (with the start above: "
              "where the prompt's words for that category are drawn), so training cannot hand one "
              "category's motifs to another category's token. Needs the start above, or an adapter "
              "to fine-tune."));
    m_sinkToken = checkField(tr("add a token that reads no ban"), QStringLiteral("sink_token"));
    addRow(tr("Neutral token:"), m_sinkToken,
           tr("Adds one token that is the same for every person. Parts of the image with nothing to "
              "suppress, such as the subject, can then look there instead of at some category's token, "
              "which matters most for people who ban every category. One token per category only; "
              "taken from the adapter when fine-tuning."));
    m_banGatedTokens =
        checkField(tr("only banned categories' tokens act"), QStringLiteral("ban_gated_tokens"));
    addRow(
        tr("Gated tokens:"), m_banGatedTokens,
        tr("Switches off the token of every category a person allows, so the adapter can only take "
           "away what is banned and leaves the rest as the base model draws it. One token per "
           "category only; taken from the adapter when fine-tuning."));
    m_ownUserQuery = checkField(tr("give the adapter its own way to look"), QStringLiteral("own_user_query"));
    addRow(tr("Own query:"), m_ownUserQuery,
           tr("Lets the adapter learn which features of a place decide the token it looks at, instead "
              "of reusing what the text attention looks for (it starts the same). The paper's own code "
              "does not know the file's extra maps. Taken from the adapter when fine-tuning."));
    m_routing = numberField(QStringLiteral("routing_weight"));
    addRow(tr("Routing weight:"), m_routing,
           tr("Asks the place of each pair's content to look at its own category's token, so that a "
              "ban acts where that category is drawn and nowhere else. 0 is off (the paper has no such "
              "term); large values damage the images. One token per category only; needs a "
              "\"category\" on each line of the data."));
    m_routingSteps = intField(QStringLiteral("routing_steps"), 0, 1000000);
    m_routingSteps->setSpecialValueText(tr("none"));
    addRow(tr("Routing-only steps:"), m_routingSteps,
           tr("Steps at the start that train the routing weight alone, changing no image yet. Needs a "
              "routing weight and fewer steps than the run."));
    m_captionDropout = new QDoubleSpinBox;
    m_captionDropout->setObjectName(QStringLiteral("caption_dropout"));
    m_captionDropout->setRange(0, 1);
    m_captionDropout->setSingleStep(0.05);
    addRow(tr("Caption dropout:"), m_captionDropout,
           tr("Share of pairs trained with an empty prompt, which keeps guidance working."));
    m_userDropout = new QDoubleSpinBox;
    m_userDropout->setObjectName(QStringLiteral("user_dropout"));
    m_userDropout->setRange(0, 1);
    m_userDropout->setSingleStep(0.05);
    addRow(tr("Profile dropout:"), m_userDropout,
           tr("Share of pairs trained without a profile, so that \"no profile\" stays the plain "
              "model."));
    m_emaDecay = new QDoubleSpinBox;
    m_emaDecay->setObjectName(QStringLiteral("ema_decay"));
    m_emaDecay->setRange(0, 0.9999);
    m_emaDecay->setDecimals(4);
    m_emaDecay->setSingleStep(0.001);
    m_emaDecay->setSpecialValueText(tr("off"));
    addRow(tr("Weight averaging:"), m_emaDecay,
           tr("Saves a moving average of the adapter's weights instead of the last ones, so that the "
              "result depends less on the final batches; 0.995 averages over about the last 200 "
              "steps. Off is the paper's."));
    m_resolution = intField(QStringLiteral("resolution"), 0, 4096);
    m_resolution->setSingleStep(8);
    m_resolution->setSpecialValueText(tr("model's size"));
    addRow(tr("Resolution:"), m_resolution,
           tr("Training image size in pixels; 0 uses the model's own size."));
    m_checkpointEvery = intField(QStringLiteral("checkpoint_every"), 0, 1000000);
    m_checkpointEvery->setSpecialValueText(tr("only at the end"));
    addRow(tr("Checkpoint every:"), m_checkpointEvery,
           tr("Steps between checkpoints; a paused or stopped run continues from the newest."));
    m_sampleEvery = intField(QStringLiteral("sample_every"), 0, 1000000);
    m_sampleEvery->setSpecialValueText(tr("never"));
    addRow(tr("Samples every:"), m_sampleEvery,
           tr("Steps between sample images at fixed seeds, to watch the adapter learn."));
    m_sampleSteps = intField(QStringLiteral("sample_steps"), 1, 1000);
    addRow(tr("Sample denoising steps:"), m_sampleSteps, tr("Fewer is faster, more is sharper."));
    m_seed = intField(QStringLiteral("seed"), 0, std::numeric_limits<int>::max());
    addRow(tr("Seed:"), m_seed, tr("The same seed and settings repeat the same run."));
    m_device = new QComboBox;
    m_device->setObjectName(QStringLiteral("device"));
    m_device->addItem(tr("automatic (GPU when available)"), QStringLiteral("auto"));
    m_device->addItem(tr("CPU"), QStringLiteral("cpu"));
    m_device->addItem(tr("CUDA GPU"), QStringLiteral("cuda"));
    addRow(tr("Device:"), m_device, tr("Where the training runs."));
    m_precision = new QComboBox;
    m_precision->setObjectName(QStringLiteral("mixed_precision"));
    for (const char* p : {"auto", "no", "bf16", "fp16"})
        m_precision->addItem(QString::fromLatin1(p), QString::fromLatin1(p));
    addRow(tr("Mixed precision:"), m_precision,
           tr("GPU only: compute in 16 bits over 32-bit weights (auto = bf16). The CPU uses 32 "
              "bits."));

    m_problem = new QLabel;
    m_problem->setObjectName(QStringLiteral("settingsError"));
    m_problem->setStyleSheet(QStringLiteral("color: #c62828;"));
    m_problem->setWordWrap(true);
    m_problem->hide();

    auto* scroll = new QScrollArea;
    scroll->setWidget(content);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(scroll, 1);
    layout->addWidget(m_problem);

    setSettings(defaultSettings());
}

QSpinBox* TrainingSettingsPage::intField(const QString& name, int min, int max)
{
    auto* box = new QSpinBox;
    box->setObjectName(name);
    box->setRange(min, max);
    return box;
}

QLineEdit* TrainingSettingsPage::numberField(const QString& name)
{
    auto* field = new QLineEdit;
    field->setObjectName(name);
    return field;
}

QCheckBox* TrainingSettingsPage::checkField(const QString& text, const QString& name)
{
    auto* box = new QCheckBox(text);
    box->setObjectName(name);
    return box;
}

QVBoxLayout* TrainingSettingsPage::addRow(const QString& label, QWidget* field, const QString& explanation)
{
    field->setAccessibleName(QString(label).remove(QLatin1Char(':')));
    field->setToolTip(explanation);
    auto* cell = new QWidget;
    auto* v = new QVBoxLayout(cell);
    v->setContentsMargins(0, 0, 0, 4);
    v->setSpacing(1);
    v->addWidget(field);
    auto* hint = new QLabel(explanation);
    hint->setWordWrap(true);
    hint->setEnabled(false); // the platform's dimmed text colour
    v->addWidget(hint);
    m_form->addRow(label, cell);
    return v;
}

void TrainingSettingsPage::setStartingAdapterTokens(const QString& description)
{
    m_tokens->setEnabled(description.isEmpty());
    m_sinkToken->setEnabled(description.isEmpty());
    m_banGatedTokens->setEnabled(description.isEmpty());
    m_ownUserQuery->setEnabled(description.isEmpty());
    m_tokensNote->setText(tr("Taken from the starting adapter: %1.").arg(description));
    m_tokensNote->setVisible(!description.isEmpty());
}

void TrainingSettingsPage::selectTokens(const psa::TrainConfig& c)
{
    const QString key = c.token_layout == psa::kPerCategoryTokens ? QString::fromLatin1(psa::kPerCategoryTokens)
                                                                  : QString::number(c.num_tokens);
    int index = m_tokens->findData(key);
    if (index < 0) { // a stored run with another token count
        m_tokens->addItem(tr("%1 tokens").arg(c.num_tokens), key);
        index = m_tokens->count() - 1;
    }
    m_tokens->setCurrentIndex(index);
}

void TrainingSettingsPage::setSettings(const psa::TrainConfig& c)
{
    m_base = c;
    m_steps->setValue(c.steps);
    m_batch->setValue(c.batch);
    m_accum->setValue(c.grad_accum);
    m_lr->setText(number(c.lr));
    m_warmup->setValue(c.warmup_steps);
    m_beta->setText(number(c.beta_dpo));
    m_sft->setText(number(c.sft_weight));
    m_anchor->setText(number(c.anchor_weight));
    m_anchorAllowed->setChecked(c.anchor_scope == psa::kAnchorAllowedWhole);
    m_counterpart->setText(number(c.counterpart_weight));
    m_counterpartBanned->setChecked(c.counterpart_pairs == psa::kCounterpartBannedPairs);
    selectTokens(c);
    m_banMixing->setValue(c.ban_mixing);
    m_tokensAtCaptions->setChecked(c.tokens_start_at_captions());
    m_freezeUserKeys->setChecked(c.freeze_user_keys);
    m_sinkToken->setChecked(c.sink_token);
    m_banGatedTokens->setChecked(c.ban_gated_tokens);
    m_ownUserQuery->setChecked(c.own_user_query);
    m_routing->setText(number(c.routing_weight));
    m_routingSteps->setValue(c.routing_steps);
    m_captionDropout->setValue(c.caption_dropout);
    m_userDropout->setValue(c.user_dropout);
    m_emaDecay->setValue(c.ema_decay);
    m_resolution->setValue(c.resolution);
    m_checkpointEvery->setValue(c.checkpoint_every);
    m_sampleEvery->setValue(c.sample_every);
    m_sampleSteps->setValue(c.sample_steps);
    m_seed->setValue(
        static_cast<int>(std::min<std::uint64_t>(c.seed, std::numeric_limits<int>::max())));
    m_device->setCurrentIndex(std::max(0, m_device->findData(QString::fromStdString(c.device))));
    m_precision->setCurrentIndex(
        std::max(0, m_precision->findData(QString::fromStdString(c.mixed_precision))));
    m_problem->hide();
}

std::optional<psa::TrainConfig> TrainingSettingsPage::readSettings()
{
    auto c = m_base;
    const auto lr = readNumber(m_lr, tr("Learning rate"), QStringLiteral("5e-6"));
    if (!lr)
        return std::nullopt;
    const auto beta = readNumber(m_beta, tr("DPO beta"), QStringLiteral("5000"));
    if (!beta)
        return std::nullopt;
    const auto sft = readNumber(m_sft, tr("Keep-chosen weight"), QStringLiteral("0"));
    if (!sft)
        return std::nullopt;
    const auto anchor = readNumber(m_anchor, tr("Keep-the-rest weight"), QStringLiteral("10"));
    if (!anchor)
        return std::nullopt;
    const auto counterpart = readNumber(m_counterpart, tr("Replace-with-safe weight"), QStringLiteral("5"));
    if (!counterpart)
        return std::nullopt;
    const auto routing = readNumber(m_routing, tr("Routing weight"), QStringLiteral("1"));
    if (!routing)
        return std::nullopt;
    c.steps = m_steps->value();
    c.batch = m_batch->value();
    c.grad_accum = m_accum->value();
    c.lr = *lr;
    c.warmup_steps = m_warmup->value();
    c.beta_dpo = *beta;
    c.sft_weight = *sft;
    c.anchor_weight = *anchor;
    c.anchor_scope = m_anchorAllowed->isChecked() ? psa::kAnchorAllowedWhole : psa::kAnchorAgreement;
    c.counterpart_weight = *counterpart;
    c.counterpart_pairs = m_counterpartBanned->isChecked() ? psa::kCounterpartBannedPairs : psa::kCounterpartAllPairs;
    const QString tokens = m_tokens->currentData().toString();
    if (tokens == QLatin1String(psa::kPerCategoryTokens)) {
        c.token_layout = psa::kPerCategoryTokens;
    } else {
        c.token_layout = psa::kDenseTokens;
        c.num_tokens = tokens.toInt();
    }
    c.ban_mixing = m_banMixing->value();
    c.token_start = m_tokensAtCaptions->isChecked() ? psa::kTokensStartAtCaptions : psa::kTokensStartRandom;
    c.freeze_user_keys = m_freezeUserKeys->isChecked();
    c.sink_token = m_sinkToken->isChecked();
    c.ban_gated_tokens = m_banGatedTokens->isChecked();
    c.own_user_query = m_ownUserQuery->isChecked();
    c.routing_weight = *routing;
    c.routing_steps = m_routingSteps->value();
    c.caption_dropout = m_captionDropout->value();
    c.user_dropout = m_userDropout->value();
    c.ema_decay = m_emaDecay->value();
    c.resolution = m_resolution->value();
    c.checkpoint_every = m_checkpointEvery->value();
    c.sample_every = m_sampleEvery->value();
    c.sample_steps = m_sampleSteps->value();
    c.seed = static_cast<std::uint64_t>(m_seed->value());
    c.device = m_device->currentData().toString().toStdString();
    c.mixed_precision = m_precision->currentData().toString().toStdString();
    try {
        c.validate();
    } catch (const psa::Error& e) {
        showProblem(QString::fromUtf8(e.what()));
        return std::nullopt;
    }
    m_problem->hide();
    return c;
}

bool TrainingSettingsPage::validatePage()
{
    return readSettings().has_value();
}

std::optional<double> TrainingSettingsPage::readNumber(QLineEdit* field, const QString& label,
                                                      const QString& example)
{
    const auto v = parseNumber(field->text());
    if (!v) {
        showProblem(tr("%1: \"%2\" is not a number (write e.g. %3).").arg(label, field->text(), example));
        field->setFocus();
    }
    return v;
}

void TrainingSettingsPage::showProblem(const QString& text)
{
    m_problem->setText(text);
    m_problem->show();
}

} // namespace psa::ui
