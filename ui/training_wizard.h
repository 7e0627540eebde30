// SPDX-License-Identifier: GPL-3.0-or-later
// The local adapter training wizard: data, model and adapter, settings, run, finish. Training
// runs on one worker thread (TrainingController); closing during a run asks first.
#pragma once
#include "training/train_config.h"

#include <QString>
#include <QWizard>

#include <functional>

namespace psa::ui {

class TrainingController;
class TrainingDataPage;
class TrainingModelPage;
class TrainingRunPage;
class TrainingSettingsPage;

class TrainingWizard : public QWizard {
    Q_OBJECT
public:
    enum PageId { DataPageId, ModelPageId, SettingsPageId, RunPageId, FinishPageId };

    explicit TrainingWizard(QWidget* parent = nullptr);
    ~TrainingWizard() override;

    void setModelPath(const QString& path);
    void setDataFolder(const QString& folder);
    void setRunFolder(const QString& folder);
    void setSettings(const psa::TrainConfig& config);
    /// Where the finished adapter is (empty until the run completed).
    QString adapterPath() const;
    /// Asked before closing stops a run; default: a question box. Returns true to stop.
    void setStopConfirmation(std::function<bool()> confirm);

    TrainingController* controller() const { return m_controller; }
    TrainingRunPage* runPage() const { return m_runPage; }

Q_SIGNALS:
    /// The run completed and the person finished the wizard: <run>/adapter.safetensors.
    void adapterReady(QString adapterPath);

public:
    void accept() override;
    void reject() override;

private:
    TrainingController* m_controller = nullptr;
    TrainingDataPage* m_dataPage = nullptr;
    TrainingModelPage* m_modelPage = nullptr;
    TrainingSettingsPage* m_settingsPage = nullptr;
    TrainingRunPage* m_runPage = nullptr;
    std::function<bool()> m_confirmStop;
};

} // namespace psa::ui
