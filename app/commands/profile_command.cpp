// SPDX-License-Identifier: GPL-3.0-or-later
// `psa profile show FILE` and `psa profile new ... --out FILE`.
#include "command_line.h"
#include "commands/commands.h"

#include "common/error.h"
#include "profiles/ban_rules.h"
#include "profiles/profile_store.h"

#include <iostream>

namespace psa::app {

namespace {

void print_profile(const SafetyProfile& p, const CategorySet& cats)
{
    std::cout << "name:      " << p.name << "\n"
              << "age:       " << p.age << " (" << p.age_group << (p.age_group_overridden ? ", set by hand" : "")
              << ")\n"
              << "gender:    " << p.gender << "\n"
              << "religion:  " << p.religion << "\n"
              << "physical:  " << p.physical_condition << "\n"
              << "mental:    " << p.mental_condition << "\n";
    if (p.level >= 0)
        std::cout << "preset:    level " << p.level << " (Sage user " << p.user_id << ")\n";
    if (!p.embedding_file.empty())
        std::cout << "embedding: " << p.embedding_file << "\n";
    if (!p.note.empty())
        std::cout << "note:      " << p.note << "\n";
    std::cout << "categories:\n";
    for (const auto& c : cats.all()) {
        const auto* b = p.ban(c.id);
        std::string line = "  " + c.label + std::string(c.label.size() < 12 ? 12 - c.label.size() : 1, ' ');
        line += b->banned ? "banned " : "allowed";
        if (b->overridden)
            line += "  (set by the person; rules: " + std::string(b->reason.empty() ? "allow" : "ban: " + b->reason) + ")";
        else if (!b->reason.empty())
            line += "  (" + b->reason + ")";
        std::cout << line << "\n";
    }
}

int show(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {{"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("profile show", "FILE", specs)
                  << "Prints a profile, its bans and the reason for each.\n";
        return 0;
    }
    if (cl.positional().size() != 1)
        throw InvalidRequest("profile show takes exactly one FILE");
    const auto& cats = CategorySet::builtin();
    print_profile(load_profile(cl.positional().front(), cats), cats);
    return 0;
}

int create(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {
        {"name", true, false, "profile name (default: Profile)"},
        {"age", true, false, "age 0-100 (required)"},
        {"gender", true, false, "female | male (default female)"},
        {"religion", true, false, "None | Christianity | Islam | Buddhism (default None)"},
        {"physical", true, false, "healthy | visual impairment | hearing impairment | intellectual disability"},
        {"mental", true, false, "healthy | depression | anxiety | war | sexual assault | major accidents | natural disasters"},
        {"ban", true, true, "keep this category out whatever the rules say (repeatable)"},
        {"allow", true, true, "allow this category whatever the rules say (repeatable)"},
        {"note", true, false, "free text"},
        {"embedding", true, false, "a precomputed user embedding (.npy)"},
        {"out", true, false, "where to write the profile JSON (required)"},
        {"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("profile new", "--age N [...] --out FILE", specs)
                  << "Writes a profile with the ban rules applied, then your --ban/--allow overrides.\n";
        return 0;
    }
    const auto& cats = CategorySet::builtin();
    auto p = make_profile(cl.get("name", "Profile"), cl.get_int("age", -1), cl.get("gender", "female"),
                          cl.get("religion", "None"), cl.get("physical", "healthy"), cl.get("mental", "healthy"),
                          cats);
    if (!cl.has("age"))
        throw InvalidRequest("option --age is required");
    for (const auto& c : cl.get_all("ban")) {
        if (!cats.contains(c))
            throw InvalidRequest("--ban: unknown category \"" + c + "\"");
        p.set_banned_by_person(c, true);
    }
    for (const auto& c : cl.get_all("allow")) {
        if (!cats.contains(c))
            throw InvalidRequest("--allow: unknown category \"" + c + "\"");
        p.set_banned_by_person(c, false);
    }
    p.note = cl.get("note");
    p.embedding_file = cl.get("embedding");
    save_profile(cl.require("out"), p, cats);
    print_profile(p, cats);
    std::cout << "written: " << cl.get("out") << "\n";
    return 0;
}

} // namespace

int run_profile(const std::vector<std::string>& args)
{
    if (args.empty() || args.front() == "--help") {
        std::cout << "usage: psa profile show FILE | psa profile new --age N ... --out FILE\n";
        return args.empty() ? 1 : 0;
    }
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (args.front() == "show")
        return show(rest);
    if (args.front() == "new")
        return create(rest);
    throw InvalidRequest("profile: unknown action \"" + args.front() + "\" (show or new)");
}

} // namespace psa::app
