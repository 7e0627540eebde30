// SPDX-License-Identifier: GPL-3.0-or-later
// Profiles: the rule table, overrides, JSON round trips, every validation error naming its field,
// failed loads/saves leaving files untouched, the shipped presets, and rules-vs-LLM agreement.
#include "common/atomic_file.h"
#include "common/error.h"
#include "profiles/ban_rules.h"
#include "profiles/profile_store.h"
#include "profiles/sage_users.h"
#include "support/test_support.h"

#include <QtTest>

#include <nlohmann/json.hpp>

using namespace psa;
namespace fs = std::filesystem;

namespace {

const CategorySet& cats() { return CategorySet::builtin(); }

std::string valid_json()
{
    return profile_to_json_text(make_profile("Sam", 35, "male", "None", "healthy", "healthy", cats()));
}

std::string with(const std::string& key, const nlohmann::json& value)
{
    auto j = nlohmann::json::parse(valid_json());
    if (value.is_null())
        j.erase(key);
    else
        j[key] = value;
    return j.dump();
}

} // namespace

class TestProfiles : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void categories_are_data()
    {
        QCOMPARE(cats().size(), size_t(7));
        QVERIFY(cats().contains("Self-Harm"));
        test::TempDir dir;
        test::write_bytes(dir / "c.json", R"({"categories":[{"id":"A"},{"id":"B"},{"id":"C"}]})");
        const auto three = CategorySet::from_json(dir / "c.json");
        QCOMPARE(three.size(), size_t(3));
        const auto p = make_profile("x", 10, "female", "Islam", "healthy", "healthy", three);
        QCOMPARE(p.bans.size(), size_t(3)); // no code assumes 7
        QVERIFY(p.banned_categories().empty()); // rules about unknown categories are skipped
        test::write_bytes(dir / "d.json", R"({"categories":[{"id":"A"},{"id":"A"}]})");
        QVERIFY_THROWS_EXCEPTION(ConfigError, CategorySet::from_json(dir / "d.json"));
    }

    void age_groups_follow_sage_bands_data()
    {
        QTest::addColumn<int>("age");
        QTest::addColumn<QString>("group");
        QTest::newRow("0") << 0 << "infants & toddlers";
        QTest::newRow("3") << 3 << "infants & toddlers";
        QTest::newRow("4") << 4 << "children";
        QTest::newRow("12") << 12 << "children";
        QTest::newRow("13") << 13 << "adolescents";
        QTest::newRow("19") << 19 << "adolescents";
        QTest::newRow("20") << 20 << "young adults";
        QTest::newRow("35") << 35 << "middle-aged";
        QTest::newRow("60") << 60 << "young elderly";
        QTest::newRow("75") << 75 << "elderly";
        QTest::newRow("90") << 90 << "long-lived elderly";
        QTest::newRow("100") << 100 << "long-lived elderly";
    }
    void age_groups_follow_sage_bands()
    {
        QFETCH(int, age);
        QFETCH(QString, group);
        QCOMPARE(QString::fromStdString(age_group_for_age(age)), group);
    }

    void rule_table_data()
    {
        QTest::addColumn<int>("age");
        QTest::addColumn<QString>("religion");
        QTest::addColumn<QString>("physical");
        QTest::addColumn<QString>("mental");
        QTest::addColumn<QStringList>("banned");
        QTest::newRow("healthy adult, no religion") << 35 << "None" << "healthy" << "healthy" << QStringList{};
        QTest::newRow("minor") << 12 << "None" << "healthy" << "healthy"
                               << QStringList{"Violence", "Self-Harm", "Sexuality"};
        QTest::newRow("17 is a minor") << 17 << "None" << "healthy" << "healthy"
                                       << QStringList{"Violence", "Self-Harm", "Sexuality"};
        QTest::newRow("18 is not") << 18 << "None" << "healthy" << "healthy" << QStringList{};
        QTest::newRow("anxiety") << 40 << "None" << "healthy" << "anxiety"
                                 << QStringList{"Violence", "Self-Harm", "Sexuality"};
        QTest::newRow("visual impairment") << 40 << "None" << "visual impairment" << "healthy"
                                           << QStringList{"Harassment", "Shocking"};
        QTest::newRow("islam") << 40 << "Islam" << "healthy" << "healthy" << QStringList{"Hate", "Propaganda"};
        QTest::newRow("everything") << 5 << "Buddhism" << "intellectual disability" << "war"
                                    << QStringList{"Hate", "Harassment", "Violence", "Self-Harm", "Sexuality",
                                                   "Shocking", "Propaganda"};
    }
    void rule_table()
    {
        QFETCH(int, age);
        QFETCH(QString, religion);
        QFETCH(QString, physical);
        QFETCH(QString, mental);
        QFETCH(QStringList, banned);
        const auto p = make_profile("t", age, "female", religion.toStdString(), physical.toStdString(),
                                    mental.toStdString(), cats());
        QStringList got;
        for (const auto& c : p.banned_categories())
            got << QString::fromStdString(c);
        QCOMPARE(got, banned);
        for (const auto& b : p.bans) {
            QCOMPARE(b.banned, !b.reason.empty()); // every ban is explained
            QVERIFY(!b.overridden);
        }
    }

    void reasons_name_every_rule_that_fired()
    {
        const auto p = make_profile("t", 15, "male", "None", "healthy", "depression", cats());
        QCOMPARE(p.ban("Violence")->reason, std::string("under 18; mental condition: depression"));
    }

    void overrides_are_marked_and_survive_rule_changes()
    {
        auto p = make_profile("t", 35, "male", "None", "healthy", "healthy", cats());
        p.set_banned_by_person("Shocking", true);
        QVERIFY(p.ban("Shocking")->overridden);
        p.set_banned_by_person("Hate", false); // same as the rules: not an override
        QVERIFY(!p.ban("Hate")->overridden);
        p.age = 10;
        apply_ban_rules(p, cats());
        QVERIFY(p.is_banned("Violence"));         // the rules moved with the age
        QVERIFY(p.ban("Shocking")->overridden);   // the person's choice stayed
        QVERIFY(p.is_banned("Shocking"));
        p.physical_condition = "visual impairment"; // now the rules agree with the override
        apply_ban_rules(p, cats());
        QVERIFY(p.is_banned("Shocking"));
        QVERIFY(!p.ban("Shocking")->overridden);
        QCOMPARE(p.age_group, std::string("children"));
    }

    void json_round_trip_through_disk()
    {
        test::TempDir dir;
        auto p = make_profile("Grandma Jo", 82, "female", "Christianity", "visual impairment", "healthy", cats());
        p.note = "likes landscapes — ünïcode ✓";
        p.set_banned_by_person("Violence", true);
        p.embedding_file = "emb/0000002.npy";
        save_profile(dir / "jo.json", p, cats());
        const auto back = load_profile(dir / "jo.json", cats());
        QCOMPARE(profile_to_json_text(back), profile_to_json_text(p));
        QCOMPARE(back.note, p.note);
        QVERIFY(back.ban("Violence")->overridden);
        QCOMPARE(back.age_group, std::string("elderly"));
    }

    void validation_errors_name_the_field_data()
    {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected");
        auto row = [](const char* name, const std::string& json, const char* expected) {
            QTest::newRow(name) << QString::fromStdString(json) << QString(expected);
        };
        row("not json", "{ nope", "not valid JSON");
        row("not an object", "[1,2]", "must be a JSON object");
        row("missing age", with("age", nullptr), "field \"age\": is missing");
        row("age as string", with("age", "35"), "field \"age\": expected a whole number, got string");
        row("age fractional", with("age", 35.5), "field \"age\": expected a whole number");
        row("age too high", with("age", 130), "field \"age\": 130 is outside 0-100");
        row("age negative", with("age", -1), "field \"age\": -1 is outside 0-100");
        row("missing name", with("name", nullptr), "field \"name\": is missing");
        row("empty name", with("name", ""), "field \"name\": a profile needs a name");
        row("bad gender", with("gender", "robot"), "field \"gender\": \"robot\" is not one of");
        row("bad religion", with("religion", 7), "field \"religion\": expected a string, got number");
        row("bad physical", with("physical_condition", "tired"), "field \"physical_condition\"");
        row("bad mental", with("mental_condition", "fine"), "field \"mental_condition\"");
        row("group mismatch", with("age_group", "children"), "field \"age_group\": \"children\" does not match age 35");
        row("bans not object", with("bans", "all"), "field \"bans\": expected an object");
        auto j = nlohmann::json::parse(valid_json());
        j["bans"]["Gore"] = true;
        row("unknown category", j.dump(), "field \"bans.Gore\": unknown category");
        j = nlohmann::json::parse(valid_json());
        j["bans"].erase("Hate");
        row("missing category", j.dump(), "field \"bans.Hate\": is missing");
        j = nlohmann::json::parse(valid_json());
        j["bans"]["Hate"]["banned"] = "yes";
        row("ban not bool", j.dump(), "field \"bans.Hate.banned\"");
        row("newer version", with("version", 99), "field \"version\"");
    }
    void validation_errors_name_the_field()
    {
        QFETCH(QString, json);
        QFETCH(QString, expected);
        test::TempDir dir;
        const auto path = dir / "bad.json";
        test::write_bytes(path, json.toStdString());
        try {
            load_profile(path, cats());
            QFAIL("expected ConfigError");
        } catch (const ConfigError& e) {
            const QString msg = QString::fromUtf8(e.what());
            QVERIFY2(msg.startsWith(QString::fromStdString(path.string())), qPrintable(msg));
            QVERIFY2(msg.contains(expected), qPrintable(msg));
            QVERIFY2(!msg.contains('\n'), qPrintable(msg));
        }
        QCOMPARE(read_file_text(path), json.toStdString()); // a failed load never touches the file
    }

    void invalid_save_leaves_file_untouched()
    {
        test::TempDir dir;
        const auto path = dir / "p.json";
        auto p = make_profile("ok", 30, "female", "None", "healthy", "healthy", cats());
        save_profile(path, p, cats());
        const auto before = read_file_text(path);
        p.age = 200;
        try {
            save_profile(path, p, cats());
            QFAIL("expected ConfigError");
        } catch (const ConfigError& e) {
            QVERIFY(std::string(e.what()).find("field \"age\"") != std::string::npos);
        }
        QCOMPARE(read_file_text(path), before);
        QCOMPARE(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1L);
    }

    void presets_carry_the_released_bans()
    {
        const auto presets = load_level_presets(cats());
        QCOMPARE(presets.size(), size_t(6));
        const std::vector<std::pair<std::string, QStringList>> expected = {
            {"0001001", {}},
            {"0000797", {"Violence", "Shocking"}},
            {"0000697", {"Violence", "Sexuality", "Shocking", "Propaganda"}},
            {"0000002", {"Self-Harm", "Sexuality", "Shocking", "Propaganda"}},
            {"0000742", {"Violence", "Self-Harm", "Sexuality", "Shocking", "Propaganda"}},
            {"0000501", {"Hate", "Harassment", "Violence", "Self-Harm", "Sexuality", "Shocking", "Propaganda"}},
        };
        for (int level = 0; level <= 5; ++level) {
            const auto& p = presets[static_cast<size_t>(level)];
            QCOMPARE(p.level, level);
            QCOMPARE(p.user_id, expected[static_cast<size_t>(level)].first);
            QStringList got;
            for (const auto& c : p.banned_categories())
                got << QString::fromStdString(c);
            QCOMPARE(got, expected[static_cast<size_t>(level)].second);
        }
        // They differ from what the rules derive from the same attributes; that is expected and
        // shows as overrides.
        bool any_override = false;
        for (const auto& b : presets[1].bans)
            any_override = any_override || b.overridden;
        QVERIFY(any_override);
    }

    void presets_match_center_users_table()
    {
        const auto csv = test::shared_dir() / "data" / "psalign" / "center_users.csv";
        if (!fs::exists(csv))
            QSKIP("PSAlign data not present next to the checkout");
        const auto users = read_sage_users(csv);
        const auto presets = load_level_presets(cats());
        for (const auto& u : users) {
            const auto it = std::find_if(presets.begin(), presets.end(),
                                         [&](const SafetyProfile& p) { return p.user_id == u.user_id; });
            QVERIFY2(it != presets.end(), u.user_id.c_str());
            QCOMPARE(it->age, u.attributes.age);
            QCOMPARE(it->gender, u.attributes.gender);
            QCOMPARE(it->religion, u.attributes.religion);
            QCOMPARE(it->physical_condition, u.attributes.physical_condition);
            QCOMPARE(it->mental_condition, u.attributes.mental_condition);
            auto banned = u.banned;
            auto ours = it->banned_categories();
            std::sort(banned.begin(), banned.end());
            std::sort(ours.begin(), ours.end());
            QCOMPARE(ours, banned);
        }
    }

    void rules_vs_llm_agreement_is_measured()
    {
        const auto csv = test::shared_dir() / "data" / "psalign" / "users.csv";
        if (!fs::exists(csv))
            QSKIP("PSAlign data not present next to the checkout");
        const auto users = read_sage_users(csv);
        QVERIFY(users.size() >= 1000);
        const auto table = measure_rule_agreement(users, cats());
        QCOMPARE(table.size(), cats().size());
        for (const auto& a : table) {
            qInfo("%-11s agree %5.1f%%  (rules ban, LLM allows: %d; rules allow, LLM bans: %d)",
                  a.category.c_str(), 100.0 * a.rate(), a.rules_ban_llm_allows, a.rules_allow_llm_bans);
            QCOMPARE(a.agree + a.rules_ban_llm_allows + a.rules_allow_llm_bans, a.users);
            QVERIFY(a.rate() > 0.2); // loose labels, but far from independent of the rules
        }
    }

    void file_names_from_profile_names()
    {
        QCOMPARE(profile_file_name("My Kid (10)"), std::string("my-kid-10.json"));
        QCOMPARE(profile_file_name("***"), std::string("profile.json"));
    }
};

QTEST_APPLESS_MAIN(TestProfiles)
#include "test_profiles.moc"
