// SPDX-License-Identifier: GPL-3.0-or-later
// The profile builder (offscreen): the rules pre-set the bans with their reasons, the person's
// overrides are marked and kept, profiles round-trip through the XDG data folder, and invalid
// input is shown at its field while the file on disk stays byte for byte as it was.
#include "ui/profile_builder_dialog.h"
#include "ui/profile_form.h"

#include "common/atomic_file.h"
#include "profiles/profile_store.h"
#include "support/test_support.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QSignalSpy>
#include <QtTest>

#include <filesystem>

using namespace psa;
namespace fs = std::filesystem;

namespace {

// With PSA_UI_SCREENSHOTS set, a picture of the widget for docs/screenshots (written only then).
void saveScreenshot(QWidget* widget, const char* name)
{
    const QByteArray dir = qgetenv("PSA_UI_SCREENSHOTS");
    if (!dir.isEmpty())
        QVERIFY(widget->grab().save(QDir(QString::fromLocal8Bit(dir)).filePath(QString::fromLatin1(name))));
}

template <typename T> T* child(QWidget* parent, const QString& name)
{
    auto* w = parent->findChild<T*>(name);
    if (!w)
        qFatal("no child widget named %s", qPrintable(name));
    return w;
}

void setText(QWidget* parent, const QString& field, const QString& text)
{
    auto* edit = child<QLineEdit>(parent, field);
    edit->clear();
    QTest::keyClicks(edit, text);
}

void choose(QWidget* parent, const QString& field, const QString& value)
{
    auto* box = child<QComboBox>(parent, field);
    const int i = box->findData(value);
    QVERIFY2(i >= 0, qPrintable(value));
    box->setCurrentIndex(i);
}

QString reason(QWidget* parent, const QString& category)
{
    return child<QLabel>(parent, QStringLiteral("reason:bans.") + category)->text();
}

bool banned(QWidget* parent, const QString& category)
{
    return child<QCheckBox>(parent, QStringLiteral("bans.") + category)->isChecked();
}

bool markedOverride(QWidget* parent, const QString& category)
{
    return !child<QLabel>(parent, QStringLiteral("override:bans.") + category)->isHidden();
}

} // namespace

class TestUiProfiles : public QObject {
    Q_OBJECT
    std::unique_ptr<test::TempDir> m_home;

    fs::path profilesFolder() const { return m_home->path() / "psa-studio" / "profiles"; }

private Q_SLOTS:
    void initTestCase()
    {
        m_home = std::make_unique<test::TempDir>();
        // The dialog's default folder comes from XDG_DATA_HOME: point it at a scratch folder.
        qputenv("XDG_DATA_HOME", QByteArray::fromStdString(m_home->path().string()));
    }

    void init()
    {
        std::error_code ec;
        fs::remove_all(profilesFolder(), ec);
    }

    void default_folder_is_the_xdg_data_folder()
    {
        ui::ProfileBuilderDialog dialog;
        QCOMPARE(dialog.profilesFolder(), QString::fromStdString(profilesFolder().string()));
        QVERIFY(fs::is_directory(profilesFolder()));
    }

    void rules_preset_bans_with_their_reasons()
    {
        ui::ProfileBuilderDialog dialog;
        setText(&dialog, "age", "12");
        QVERIFY(banned(&dialog, "Violence"));
        QCOMPARE(reason(&dialog, "Violence"), QStringLiteral("banned: under 18"));
        QVERIFY(banned(&dialog, "Sexuality"));
        QVERIFY(!banned(&dialog, "Hate"));
        QCOMPARE(reason(&dialog, "Hate"), QStringLiteral("allowed: no rule applies"));
        QCOMPARE(child<QComboBox>(&dialog, "age_group")->currentData().toString(),
                 QStringLiteral("children"));

        choose(&dialog, "religion", "Islam");
        QVERIFY(banned(&dialog, "Hate"));
        QCOMPARE(reason(&dialog, "Hate"), QStringLiteral("banned: religion: Islam"));
        choose(&dialog, "mental_condition", "anxiety");
        QCOMPARE(reason(&dialog, "Violence"),
                 QStringLiteral("banned: under 18; mental condition: anxiety"));
        for (const auto& c : {"Violence", "Hate", "Sexuality"})
            QVERIFY(!markedOverride(&dialog, c));

        setText(&dialog, "age", "30"); // adult again: only the anxiety rule keeps Violence out
        QCOMPARE(reason(&dialog, "Violence"), QStringLiteral("banned: mental condition: anxiety"));
        QCOMPARE(child<QComboBox>(&dialog, "age_group")->currentData().toString(),
                 QStringLiteral("young adults"));
    }

    void overrides_are_marked_and_kept_when_attributes_change()
    {
        ui::ProfileBuilderDialog dialog;
        setText(&dialog, "age", "12");
        child<QCheckBox>(&dialog, "bans.Violence")->click(); // the person allows it after all
        QVERIFY(!banned(&dialog, "Violence"));
        QVERIFY(markedOverride(&dialog, "Violence"));
        QCOMPARE(reason(&dialog, "Violence"),
                 QStringLiteral("allowed by you (the rules ban it: under 18)"));
        child<QCheckBox>(&dialog, "bans.Shocking")->click(); // and keeps this out
        QVERIFY(markedOverride(&dialog, "Shocking"));
        QCOMPARE(reason(&dialog, "Shocking"), QStringLiteral("banned by you (the rules allow it)"));

        choose(&dialog, "religion", "Buddhism"); // the rules run again; the overrides stay
        QVERIFY(!banned(&dialog, "Violence"));
        QVERIFY(markedOverride(&dialog, "Violence"));
        QVERIFY(banned(&dialog, "Hate"));
        QVERIFY(!markedOverride(&dialog, "Hate"));

        setText(&dialog, "age", "40"); // now the rules agree with the person: no longer an override
        QVERIFY(!banned(&dialog, "Violence"));
        QVERIFY(!markedOverride(&dialog, "Violence"));
        QVERIFY(markedOverride(&dialog, "Shocking"));
        const auto& p = dialog.form()->currentProfile();
        QVERIFY(p.ban("Shocking")->overridden);
        QVERIFY(!p.ban("Violence")->overridden);
    }

    void profile_round_trips_through_disk()
    {
        QString savedPath;
        {
            ui::ProfileBuilderDialog dialog;
            QSignalSpy saved(&dialog, &ui::ProfileBuilderDialog::profileSaved);
            setText(&dialog, "name", "My kid");
            setText(&dialog, "age", "9");
            choose(&dialog, "gender", "male");
            choose(&dialog, "physical_condition", "hearing impairment");
            child<QCheckBox>(&dialog, "bans.Violence")->click();
            child<QCheckBox>(&dialog, "age_group_overridden")->click();
            choose(&dialog, "age_group", "adolescents");
            QVERIFY(dialog.save());
            QCOMPARE(saved.count(), 1);
            savedPath = saved.front().front().toString();
            QCOMPARE(savedPath,
                     QString::fromStdString((profilesFolder() / "my-kid.json").string()));
            QCOMPARE(dialog.currentPath(), savedPath);
        }
        const auto onDisk = load_profile(savedPath.toStdString(), CategorySet::builtin());
        QCOMPARE(QString::fromStdString(onDisk.name), QStringLiteral("My kid"));
        QCOMPARE(onDisk.age, 9);
        QCOMPARE(QString::fromStdString(onDisk.gender), QStringLiteral("male"));
        QCOMPARE(QString::fromStdString(onDisk.age_group), QStringLiteral("adolescents"));
        QVERIFY(onDisk.age_group_overridden);
        QVERIFY(!onDisk.is_banned("Violence"));
        QVERIFY(onDisk.ban("Violence")->overridden);
        QVERIFY(onDisk.is_banned("Sexuality"));
        QVERIFY(onDisk.is_banned("Shocking")); // physical condition rule
        QCOMPARE(QString::fromStdString(onDisk.ban("Shocking")->reason),
                 QStringLiteral("physical condition: hearing impairment"));

        ui::ProfileBuilderDialog reopened;
        QVERIFY(reopened.openProfile(savedPath));
        reopened.show();
        saveScreenshot(&reopened, "profile-builder.png");
        QCOMPARE(child<QLineEdit>(&reopened, "name")->text(), QStringLiteral("My kid"));
        QCOMPARE(child<QLineEdit>(&reopened, "age")->text(), QStringLiteral("9"));
        QVERIFY(!banned(&reopened, "Violence"));
        QVERIFY(markedOverride(&reopened, "Violence"));
        QCOMPARE(child<QComboBox>(&reopened, "age_group")->currentData().toString(),
                 QStringLiteral("adolescents"));
        QVERIFY(reopened.form()->readProfile().has_value());
        // Saving again unchanged writes the same bytes.
        const auto before = read_file_text(savedPath.toStdString());
        QVERIFY(reopened.save());
        QCOMPARE(read_file_text(savedPath.toStdString()), before);
    }

    void invalid_input_is_shown_at_the_field_and_the_file_stays_untouched()
    {
        ui::ProfileBuilderDialog dialog;
        QSignalSpy saved(&dialog, &ui::ProfileBuilderDialog::profileSaved);
        setText(&dialog, "name", "Grandpa");
        setText(&dialog, "age", "81");
        QVERIFY(dialog.save());
        const auto path = dialog.currentPath().toStdString();
        const auto before = read_file_text(path);
        const auto modified = fs::last_write_time(path);

        setText(&dialog, "age", "130");
        QCOMPARE(dialog.form()->fieldError("age"),
                 QStringLiteral("130 is outside 0-100")); // shown while typing
        QVERIFY(!dialog.save());
        QVERIFY(child<QLabel>(&dialog, "error:age")->isVisibleTo(&dialog));
        QCOMPARE(dialog.form()->fieldError("age"), QStringLiteral("130 is outside 0-100"));
        QCOMPARE(child<QLineEdit>(&dialog, "age")->text(),
                 QStringLiteral("130")); // not "fixed" to 100

        setText(&dialog, "age", "eighty");
        QVERIFY(!dialog.save());
        QCOMPARE(dialog.form()->fieldError("age"),
                 QStringLiteral("\"eighty\" is not a whole number of years"));

        setText(&dialog, "age", "81");
        setText(&dialog, "name", "   ");
        QVERIFY(!dialog.save());
        QCOMPARE(dialog.form()->fieldError("name"), QStringLiteral("a profile needs a name"));
        QVERIFY(dialog.form()->fieldError("age").isEmpty());

        QCOMPARE(saved.count(), 1);
        QCOMPARE(read_file_text(path), before);
        QCOMPARE(fs::last_write_time(path), modified);
        const auto leftovers =
            std::distance(fs::directory_iterator(profilesFolder()), fs::directory_iterator());
        QCOMPARE(leftovers, 1); // no temporary files either
    }

    void a_new_profile_does_not_overwrite_another_file()
    {
        ui::ProfileBuilderDialog dialog;
        setText(&dialog, "name", "Anna");
        QVERIFY(dialog.save());
        const auto path = dialog.currentPath().toStdString();
        const auto before = read_file_text(path);
        dialog.newProfile();
        setText(&dialog, "name", "anna");
        setText(&dialog, "age", "15");
        QVERIFY(!dialog.save());
        QVERIFY(dialog.form()->fieldError("name").contains("anna.json"));
        QCOMPARE(read_file_text(path), before);
    }

    void duplicate_save_as_and_delete()
    {
        ui::ProfileBuilderDialog dialog;
        setText(&dialog, "name", "Base");
        setText(&dialog, "age", "16");
        QVERIFY(dialog.save());
        const QString basePath = dialog.currentPath();
        dialog.duplicate();
        QVERIFY(dialog.currentPath().isEmpty());
        QCOMPARE(child<QLineEdit>(&dialog, "name")->text(), QStringLiteral("Base (copy)"));
        QVERIFY(dialog.save());
        QCOMPARE(QFileInfo(dialog.currentPath()).fileName(), QStringLiteral("base-copy.json"));
        QCOMPARE(load_profile(dialog.currentPath().toStdString(), CategorySet::builtin()).age, 16);

        const QString elsewhere =
            QString::fromStdString((m_home->path() / "exported.json").string());
        QVERIFY(dialog.saveAs(elsewhere));
        QCOMPARE(dialog.currentPath(), elsewhere);
        QVERIFY(dialog.deleteCurrent());
        QVERIFY(!QFileInfo::exists(elsewhere));
        QVERIFY(dialog.currentPath().isEmpty());
        QVERIFY(QFileInfo::exists(basePath));
        auto* list = child<QListWidget>(&dialog, "profileList");
        QCOMPARE(list->count(), 2); // base.json and base-copy.json
    }

    void a_malformed_file_is_reported_and_not_loaded()
    {
        fs::create_directories(profilesFolder());
        const auto bad = profilesFolder() / "broken.json";
        test::write_bytes(bad, R"({"name": "X", "age": "old", "gender": "female"})");
        ui::ProfileBuilderDialog dialog;
        setText(&dialog, "name", "Kept");
        QVERIFY(!dialog.openProfile(QString::fromStdString(bad.string())));
        QCOMPARE(child<QLineEdit>(&dialog, "name")->text(), QStringLiteral("Kept"));
        const QString status = child<QLabel>(&dialog, "status")->text();
        QVERIFY2(status.contains("broken.json") && status.contains("age"), qPrintable(status));
        auto* list = child<QListWidget>(&dialog, "profileList");
        QCOMPARE(list->count(), 1);
        QVERIFY(list->item(0)->text().contains("unreadable"));
    }
};

QTEST_MAIN(TestUiProfiles)
#include "test_ui_profiles.moc"
