// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace psa {

struct Category {
    std::string id;          // stable key used in profiles and adapters ("Self-Harm")
    std::string label;       // shown to people ("Self-harm")
    std::string description;
};

/// The safety categories, as data (resources/categories.json). No code assumes how many.
class CategorySet {
public:
    CategorySet() = default;
    explicit CategorySet(std::vector<Category> categories);

    /// Reads {"categories": [{"id", "label", "description"}, ...]}. Throws ConfigError naming the
    /// file and field (missing id, duplicate id, empty list).
    static CategorySet from_json(const std::filesystem::path& path);
    /// resources/categories.json of this installation (see resource_dir()).
    static const CategorySet& builtin();

    const std::vector<Category>& all() const { return categories_; }
    size_t size() const { return categories_.size(); }
    bool contains(const std::string& id) const { return index_of(id) >= 0; }
    int index_of(const std::string& id) const; // -1 when absent
    const Category& at(const std::string& id) const; // throws ConfigError

private:
    std::vector<Category> categories_;
};

/// Where bundled resources live: $PSA_RESOURCES, else <prefix>/share/psa-studio next to the
/// executable, else the source tree's resources/ (development builds).
std::filesystem::path resource_dir();

} // namespace psa
