// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/profile_builder_dialog.h"

#include "ui/profile_form.h"

#include "common/error.h"
#include "profiles/ban_rules.h"
#include "profiles/profile_store.h"

#include <QColor>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollArea>
#include <QSplitter>
#include <QVBoxLayout>

#include <filesystem>

namespace psa::ui {

namespace fs = std::filesystem;

namespace {
constexpr int kPathRole = Qt::UserRole + 1;
}

ProfileBuilderDialog::ProfileBuilderDialog(QWidget* parent)
    : QDialog(parent), m_categories(psa::CategorySet::builtin())
{
    setWindowTitle(tr("Safety profiles"));
    setObjectName(QStringLiteral("ProfileBuilderDialog"));

    auto* left = new QWidget;
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    m_list = new QListWidget;
    m_list->setObjectName(QStringLiteral("profileList"));
    m_list->setAccessibleName(tr("Saved profiles"));
    leftLayout->addWidget(m_list);
    auto* listButtons = new QHBoxLayout;
    auto* newButton = new QPushButton(tr("&New"));
    auto* duplicateButton = new QPushButton(tr("D&uplicate"));
    m_delete = new QPushButton(tr("&Delete…"));
    for (auto* b : {newButton, duplicateButton, m_delete})
        listButtons->addWidget(b);
    leftLayout->addLayout(listButtons);

    m_form = new ProfileForm(m_categories);
    auto* scroll = new QScrollArea;
    scroll->setWidget(m_form);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);

    auto* splitter = new QSplitter;
    splitter->addWidget(left);
    splitter->addWidget(scroll);
    splitter->setStretchFactor(1, 1);

    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("status"));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* buttons = new QDialogButtonBox;
    auto* saveButton = buttons->addButton(QDialogButtonBox::Save);
    auto* saveAsButton = buttons->addButton(tr("Save &As…"), QDialogButtonBox::ActionRole);
    buttons->addButton(QDialogButtonBox::Close);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(splitter, 1);
    layout->addWidget(m_status);
    layout->addWidget(buttons);
    resize(900, 640);

    connect(m_list, &QListWidget::itemActivated, this, &ProfileBuilderDialog::itemActivated);
    connect(m_list, &QListWidget::itemClicked, this, &ProfileBuilderDialog::itemActivated);
    connect(newButton, &QPushButton::clicked, this, [this] {
        if (settleUnsavedChanges())
            newProfile();
    });
    connect(duplicateButton, &QPushButton::clicked, this, &ProfileBuilderDialog::duplicate);
    connect(m_delete, &QPushButton::clicked, this, &ProfileBuilderDialog::confirmDelete);
    connect(saveButton, &QPushButton::clicked, this, [this] { save(); });
    connect(saveAsButton, &QPushButton::clicked, this, &ProfileBuilderDialog::chooseSaveAs);
    connect(buttons, &QDialogButtonBox::rejected, this, &ProfileBuilderDialog::reject);
    connect(m_form, &ProfileForm::edited, this, [this] { setDirty(true); });

    try {
        m_folder = QString::fromStdString(psa::profiles_dir().string());
    } catch (const psa::Error& e) {
        showStatus(QString::fromUtf8(e.what()), true);
    }
    refreshList();
    newProfile();
}

void ProfileBuilderDialog::setProfilesFolder(const QString& folder)
{
    m_folder = folder;
    refreshList();
}

void ProfileBuilderDialog::refreshList()
{
    m_list->clear();
    if (m_folder.isEmpty())
        return;
    const QDir dir(m_folder);
    for (const auto& info :
         dir.entryInfoList({QStringLiteral("*.json")}, QDir::Files, QDir::Name)) {
        auto* item = new QListWidgetItem(m_list);
        item->setData(kPathRole, info.absoluteFilePath());
        try {
            const auto p = psa::load_profile(info.absoluteFilePath().toStdString(), m_categories);
            item->setText(QString::fromStdString(p.name));
            item->setToolTip(info.absoluteFilePath());
        } catch (const psa::Error& e) {
            // Listed anyway, so that the person can see the file exists and why it is not usable.
            item->setText(tr("%1 (unreadable)").arg(info.fileName()));
            item->setToolTip(QString::fromUtf8(e.what()));
            item->setForeground(QColor(0xc6, 0x28, 0x28));
        }
        if (info.absoluteFilePath() == m_currentPath)
            m_list->setCurrentItem(item);
    }
}

void ProfileBuilderDialog::itemActivated(QListWidgetItem* item)
{
    const QString path = item->data(kPathRole).toString();
    if (path == m_currentPath || !settleUnsavedChanges())
        return;
    openProfile(path);
}

bool ProfileBuilderDialog::openProfile(const QString& path)
{
    try {
        const auto profile = psa::load_profile(path.toStdString(), m_categories);
        m_form->setProfile(profile);
    } catch (const psa::Error& e) {
        showStatus(tr("Could not open this profile:\n%1").arg(QString::fromUtf8(e.what())), true);
        return false;
    }
    m_currentPath = QFileInfo(path).absoluteFilePath();
    m_delete->setEnabled(true);
    setDirty(false);
    showStatus(m_currentPath, false);
    return true;
}

void ProfileBuilderDialog::newProfile()
{
    m_form->setProfile(
        psa::make_profile("", 30, "female", "None", "healthy", "healthy", m_categories));
    m_currentPath.clear();
    m_list->clearSelection();
    m_delete->setEnabled(false);
    setDirty(false);
    showStatus(tr("New profile: fill in the fields; the rules pre-set what is kept out."), false);
}

bool ProfileBuilderDialog::save()
{
    if (!m_currentPath.isEmpty())
        return writeTo(m_currentPath, true);
    const auto profile = m_form->readProfile();
    if (!profile)
        return false;
    if (m_folder.isEmpty()) {
        showStatus(tr("There is no profiles folder to save into; use Save As."), true);
        return false;
    }
    const QString path =
        QDir(m_folder).filePath(QString::fromStdString(psa::profile_file_name(profile->name)));
    return writeTo(path, false);
}

bool ProfileBuilderDialog::saveAs(const QString& path)
{
    return writeTo(path, true);
}

bool ProfileBuilderDialog::writeTo(const QString& path, bool mayReplaceOther)
{
    const auto profile = m_form->readProfile();
    if (!profile)
        return false;
    const QString target = QFileInfo(path).absoluteFilePath();
    if (!mayReplaceOther && QFileInfo::exists(target) && target != m_currentPath) {
        m_form->showErrors(
            {{"name", tr("another profile is already saved as %1; choose another name or "
                         "use Save As")
                          .arg(QFileInfo(target).fileName())
                          .toStdString()}});
        return false;
    }
    try {
        psa::save_profile(target.toStdString(), *profile, m_categories);
    } catch (const psa::Error& e) {
        showStatus(tr("Nothing was saved:\n%1").arg(QString::fromUtf8(e.what())), true);
        return false;
    }
    m_currentPath = target;
    m_delete->setEnabled(true);
    setDirty(false);
    refreshList();
    showStatus(tr("Saved %1").arg(target), false);
    Q_EMIT profileSaved(target);
    return true;
}

void ProfileBuilderDialog::chooseSaveAs()
{
    const QString suggested = QDir(m_folder).filePath(
        QString::fromStdString(psa::profile_file_name(m_form->currentProfile().name)));
    const QString path = QFileDialog::getSaveFileName(this, tr("Save profile as"), suggested,
                                                      tr("Profiles (*.json)"));
    if (!path.isEmpty())
        saveAs(path.endsWith(QStringLiteral(".json")) ? path : path + QStringLiteral(".json"));
}

void ProfileBuilderDialog::duplicate()
{
    auto copy = m_form->currentProfile();
    copy.name = copy.name.empty() ? std::string() : copy.name + " (copy)";
    copy.level = -1; // a copy of a shipped preset is the person's own profile
    copy.user_id.clear();
    m_form->setProfile(copy);
    m_currentPath.clear();
    m_list->clearSelection();
    m_delete->setEnabled(false);
    setDirty(true);
    showStatus(tr("Unsaved copy: rename it and save."), false);
}

void ProfileBuilderDialog::confirmDelete()
{
    if (m_currentPath.isEmpty())
        return;
    const auto answer = QMessageBox::question(
        this, tr("Delete profile"),
        tr("Delete the profile file %1? This cannot be undone.").arg(m_currentPath));
    if (answer == QMessageBox::Yes)
        deleteCurrent();
}

bool ProfileBuilderDialog::deleteCurrent()
{
    if (m_currentPath.isEmpty())
        return false;
    std::error_code ec;
    fs::remove(m_currentPath.toStdString(), ec);
    if (ec) {
        showStatus(
            tr("Could not delete %1: %2").arg(m_currentPath, QString::fromStdString(ec.message())),
            true);
        return false;
    }
    const QString gone = m_currentPath;
    refreshList();
    newProfile();
    showStatus(tr("Deleted %1").arg(gone), false);
    return true;
}

void ProfileBuilderDialog::showStatus(const QString& text, bool problem)
{
    m_status->setText(text);
    m_status->setStyleSheet(problem ? QStringLiteral("color: #c62828;") : QString());
}

void ProfileBuilderDialog::setDirty(bool dirty)
{
    m_dirty = dirty;
    setWindowTitle(dirty ? tr("Safety profiles (unsaved changes)") : tr("Safety profiles"));
}

bool ProfileBuilderDialog::settleUnsavedChanges()
{
    if (!m_dirty)
        return true;
    const auto answer = QMessageBox::question(
        this, tr("Unsaved changes"), tr("This profile has unsaved changes. Save them?"),
        QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel);
    if (answer == QMessageBox::Save)
        return save();
    return answer == QMessageBox::Discard;
}

void ProfileBuilderDialog::reject()
{
    if (settleUnsavedChanges())
        QDialog::reject();
}

} // namespace psa::ui
