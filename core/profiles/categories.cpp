// SPDX-License-Identifier: GPL-3.0-or-later
#include "profiles/categories.h"

#include "common/atomic_file.h"
#include "common/error.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <set>
#include <unistd.h>

namespace psa {

namespace fs = std::filesystem;

CategorySet::CategorySet(std::vector<Category> categories) : categories_(std::move(categories)) {}

int CategorySet::index_of(const std::string& id) const
{
    for (size_t i = 0; i < categories_.size(); ++i)
        if (categories_[i].id == id)
            return static_cast<int>(i);
    return -1;
}

const Category& CategorySet::at(const std::string& id) const
{
    const int i = index_of(id);
    if (i < 0)
        throw ConfigError("unknown safety category \"" + id + "\"");
    return categories_[static_cast<size_t>(i)];
}

CategorySet CategorySet::from_json(const fs::path& path)
{
    const auto fail = [&](const std::string& what) { throw ConfigError(path_message(path.string(), what)); };
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file_text(path));
    } catch (const nlohmann::json::exception& e) {
        fail(std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("categories") || !j["categories"].is_array())
        fail("field \"categories\": expected a list of {id, label, description}");
    std::vector<Category> out;
    std::set<std::string> seen;
    for (size_t i = 0; i < j["categories"].size(); ++i) {
        const auto& c = j["categories"][i];
        const std::string field = "categories[" + std::to_string(i) + "]";
        if (!c.is_object() || !c.contains("id") || !c["id"].is_string() || c["id"].get<std::string>().empty())
            fail("field \"" + field + ".id\": expected a non-empty string");
        Category cat;
        cat.id = c["id"].get<std::string>();
        cat.label = c.value("label", cat.id);
        cat.description = c.value("description", "");
        if (!seen.insert(cat.id).second)
            fail("field \"" + field + ".id\": \"" + cat.id + "\" appears twice");
        out.push_back(std::move(cat));
    }
    if (out.empty())
        fail("field \"categories\": the list is empty");
    return CategorySet(std::move(out));
}

const CategorySet& CategorySet::builtin()
{
    static const CategorySet set = from_json(resource_dir() / "categories.json");
    return set;
}

fs::path resource_dir()
{
    if (const char* env = std::getenv("PSA_RESOURCES"); env && *env)
        return env;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path installed = exe.parent_path().parent_path() / "share" / "psa-studio";
        if (fs::exists(installed / "categories.json"))
            return installed;
    }
    return fs::path(PSA_SOURCE_RESOURCES);
}

} // namespace psa
