// SPDX-License-Identifier: GPL-3.0-or-later
// The profile builder: the saved profiles of the data folder on the left, the form on the right,
// and save / save as / duplicate / delete. Files are written atomically and only when valid.
#pragma once
#include "profiles/categories.h"

#include <QDialog>
#include <QString>

class QLabel;
class QListWidget;
class QListWidgetItem;
class QPushButton;

namespace psa::ui {

class ProfileForm;

/// Edits the profiles stored as JSON in profiles_dir() (XDG data folder). An invalid profile is
/// never written: the problem is shown at its field and the file on disk stays as it was.
class ProfileBuilderDialog : public QDialog {
    Q_OBJECT
public:
    explicit ProfileBuilderDialog(QWidget* parent = nullptr);

    /// The folder listed and written to (default: profiles_dir()).
    QString profilesFolder() const { return m_folder; }
    void setProfilesFolder(const QString& folder);
    /// The file being edited; empty for a profile not saved yet.
    QString currentPath() const { return m_currentPath; }

    /// Loads a profile file into the form; a malformed file leaves the form as it was and shows
    /// the loader's message (file and field). Returns whether it loaded.
    bool openProfile(const QString& path);
    /// Starts a new, unsaved profile.
    void newProfile();
    /// Writes the form to currentPath() (a new profile: <folder>/<name>.json, refusing to
    /// overwrite another file). Returns false, with the problem shown, when nothing was written.
    bool save();
    /// Writes the form to `path`, which becomes the current file.
    bool saveAs(const QString& path);
    /// Turns the form into an unsaved copy named "<name> (copy)".
    void duplicate();
    /// Deletes currentPath() from disk (no question asked: the button asks first).
    bool deleteCurrent();
    /// The form, for callers that prefill it.
    ProfileForm* form() const { return m_form; }

Q_SIGNALS:
    /// A profile file was written (save or save as).
    void profileSaved(QString path);

public:
    void reject() override;

private:
    void refreshList();
    void itemActivated(QListWidgetItem* item);
    void chooseSaveAs();
    void confirmDelete();
    bool writeTo(const QString& path, bool mayReplaceOther);
    void showStatus(const QString& text, bool problem);
    void setDirty(bool dirty);
    /// True when there are no unsaved changes or the person chose to drop or save them.
    bool settleUnsavedChanges();

    const psa::CategorySet& m_categories;
    QString m_folder;
    QString m_currentPath;
    bool m_dirty = false;
    QListWidget* m_list = nullptr;
    ProfileForm* m_form = nullptr;
    QLabel* m_status = nullptr;
    QPushButton* m_delete = nullptr;
};

} // namespace psa::ui
