// SPDX-License-Identifier: GPL-3.0-or-later
// Reading Sage's metadata.jsonl (PSAlign's personalized preference split): every problem is named
// with its file and line, malformed lines are collected and reported together.
#include "training/preference_dataset.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "profiles/ban_rules.h"
#include "profiles/profile_encoder.h"
#include "tensor_io/npy.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <optional>
#include <set>
#include <sstream>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Why a relative path from the metadata may not be used; empty when it may.
std::string path_problem(const std::string& value)
{
    if (value.empty())
        return "is empty";
    const fs::path p(value);
    if (p.is_absolute() || p.has_root_name() || p.has_root_directory() || value.front() == '\\' ||
        (value.size() > 1 && value[1] == ':'))
        return "\"" + value + "\" is an absolute path; paths must be relative to the split folder";
    for (const auto& part : p)
        if (part == "..")
            return "\"" + value + "\" contains \"..\"; paths must stay inside the split folder";
    if (value.find("\\..") != std::string::npos || value.rfind("..\\", 0) == 0)
        return "\"" + value + "\" contains \"..\"; paths must stay inside the split folder";
    return {};
}

std::string trim(const std::string& s)
{
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos)
        return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

// A string field of user_data that may also be written as a number (User_ID, Age).
std::optional<std::string> text_of(const json& obj, const char* key)
{
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
        return std::nullopt;
    if (it->is_string())
        return it->get<std::string>();
    if (it->is_number_integer())
        return std::to_string(it->get<long long>());
    if (it->is_number())
        return std::to_string(it->get<double>());
    throw std::invalid_argument(std::string("user_data.") + key + " must be a string or a number");
}

// Banned_Categories as a JSON array, or as Sage's CSV form: a Python list string "['A', 'B']".
std::vector<std::string> parse_banned(const json& v)
{
    std::vector<std::string> out;
    if (v.is_array()) {
        for (const auto& e : v) {
            if (!e.is_string())
                throw std::invalid_argument("user_data.Banned_Categories must list category names");
            out.push_back(e.get<std::string>());
        }
        return out;
    }
    if (!v.is_string())
        throw std::invalid_argument("user_data.Banned_Categories must be a list of category names");
    std::string s = trim(v.get<std::string>());
    if (s.empty() || s == "[]" || s == "None")
        return out;
    if (s.front() != '[' || s.back() != ']')
        throw std::invalid_argument("user_data.Banned_Categories \"" + s + "\" is not a list");
    std::stringstream items(s.substr(1, s.size() - 2));
    for (std::string item; std::getline(items, item, ',');) {
        item = trim(item);
        if (item.size() >= 2 && (item.front() == '\'' || item.front() == '"') && item.back() == item.front())
            item = item.substr(1, item.size() - 2);
        if (!item.empty())
            out.push_back(item);
    }
    return out;
}

struct ParsedLine {
    PreferencePair pair;
    std::string chosen_rel, rejected_rel;
    SafetyProfile profile;
    std::optional<std::vector<std::string>> banned;
};

ParsedLine parse_line(const std::string& text, const CategorySet& cats, bool need_attributes)
{
    json j;
    try {
        j = json::parse(text);
    } catch (const json::parse_error& e) {
        std::string what = e.what();
        if (const auto pos = what.find("parse error"); pos != std::string::npos)
            what = what.substr(pos);
        throw std::invalid_argument("malformed JSON (" + what + ")");
    }
    if (!j.is_object())
        throw std::invalid_argument("a line must be a JSON object");
    ParsedLine out;
    const auto str = [&](const char* key, bool required) -> std::string {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) {
            if (required)
                throw std::invalid_argument(std::string("missing \"") + key + "\"");
            return {};
        }
        if (!it->is_string())
            throw std::invalid_argument(std::string("\"") + key + "\" must be a string");
        return it->get<std::string>();
    };
    out.chosen_rel = str("chosen", true);
    out.rejected_rel = str("rejected", true);
    out.pair.caption = str("caption", true);
    out.pair.file_name = str("file_name", false);
    out.pair.category = str("category", false);
    using Field = std::pair<const char*, const std::string*>;
    for (const auto& [field, value] : {Field{"chosen", &out.chosen_rel}, Field{"rejected", &out.rejected_rel},
                                       Field{"file_name", &out.pair.file_name}}) {
        if (std::string(field) == "file_name" && value->empty())
            continue;
        if (const auto problem = path_problem(*value); !problem.empty())
            throw std::invalid_argument(std::string(field) + " " + problem);
    }

    const auto ud = j.find("user_data");
    if (ud == j.end() || !ud->is_object())
        throw std::invalid_argument("missing \"user_data\" object");
    const auto id = text_of(*ud, "User_ID");
    if (!id || id->empty())
        throw std::invalid_argument("user_data has no User_ID");
    out.pair.user_id = *id;

    auto& p = out.profile;
    p.name = *id;
    p.user_id = *id;
    const auto attr = [&](const char* key) -> std::optional<std::string> {
        auto v = text_of(*ud, key);
        if (!v && need_attributes)
            throw std::invalid_argument(std::string("user_data has no ") + key +
                                        " (the structured profile encoder needs it)");
        return v;
    };
    if (const auto age = attr("Age")) {
        try {
            size_t used = 0;
            p.age = static_cast<int>(std::stod(*age, &used));
            if (used != age->size())
                throw std::invalid_argument("trailing");
        } catch (const std::exception&) {
            throw std::invalid_argument("user_data.Age \"" + *age + "\" is not a number");
        }
    }
    if (const auto g = attr("Gender"))
        p.gender = *g;
    if (const auto r = attr("Religion"))
        p.religion = trim(*r).empty() ? "None" : *r; // users_cluster.csv writes no religion as ""
    if (const auto ph = attr("Physical_Condition"))
        p.physical_condition = *ph;
    if (const auto m = attr("Mental_Condition"))
        p.mental_condition = *m;
    apply_ban_rules(p, cats);
    if (const auto group = text_of(*ud, "Age_Group"); group && *group != p.age_group) {
        p.age_group = *group;
        p.age_group_overridden = true;
    }
    if (const auto it = ud->find("Banned_Categories"); it != ud->end() && !it->is_null()) {
        out.banned = parse_banned(*it);
        for (const auto& c : *out.banned)
            if (!cats.contains(c))
                throw std::invalid_argument("user_data.Banned_Categories names unknown category \"" + c + "\"");
        // Explicit ban states: each category is what the line says, whatever the rules say.
        for (const auto& c : cats.all()) {
            const bool banned = std::find(out.banned->begin(), out.banned->end(), c.id) != out.banned->end();
            p.set_banned_by_person(c.id, banned);
        }
    }
    if (!out.pair.category.empty() && cats.contains(out.pair.category))
        out.pair.user_bans_category = p.is_banned(out.pair.category);
    if (need_attributes) {
        const auto errors = validate_profile(p, cats);
        if (!errors.empty())
            throw std::invalid_argument("user_data " + errors.front().field + ": " + errors.front().message);
    }
    return out;
}

std::vector<float> read_embedding(const fs::path& file, const std::string& user, int line)
{
    if (!fs::is_regular_file(file))
        throw IoError(path_message(file.string(), "missing: the embedding of user " + user + " (needed from line " +
                                                      std::to_string(line) + ")"));
    const auto t = load_npy(file).to(torch::kFloat).flatten().contiguous();
    if (t.numel() == 0)
        throw IoError(path_message(file.string(), "an empty embedding"));
    if (!torch::isfinite(t).all().item<bool>())
        throw IoError(path_message(file.string(), "the embedding contains NaN or infinite values"));
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

} // namespace

const PreferenceUser& PreferenceDataset::user(const std::string& user_id) const
{
    const auto it = users_.find(user_id);
    if (it == users_.end())
        throw InvalidRequest("preference data: no user \"" + user_id + "\"");
    return it->second;
}

PreferenceDataset PreferenceDataset::load(const fs::path& split_dir, const PreferenceDatasetOptions& options)
{
    PreferenceDataset d;
    d.folder_ = split_dir;
    d.metadata_ = split_dir / "metadata.jsonl";
    d.categories_ = options.categories.size() ? options.categories : CategorySet::builtin();
    const bool precomputed = !options.embeds_dir.empty();
    d.profile_encoder_ = precomputed ? "precomputed" : StructuredProfileEncoder::kName;
    if (!fs::is_directory(split_dir))
        throw IoError(path_message(split_dir.string(), "not a folder (expected a Sage split with metadata.jsonl)"));
    if (!fs::is_regular_file(d.metadata_))
        throw IoError(path_message(d.metadata_.string(),
                                   "missing (a Sage split folder holds metadata.jsonl and the images it names)"));
    if (precomputed && !fs::is_directory(options.embeds_dir))
        throw IoError(path_message(options.embeds_dir.string(), "not a folder of {User_ID}.npy embeddings"));

    const std::string meta_name = d.metadata_.string();
    std::istringstream in(read_file_text(d.metadata_));
    std::vector<std::string> malformed;
    int malformed_count = 0;
    std::vector<std::string> missing;
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (trim(line).empty())
            continue;
        ++d.report_.lines;
        ParsedLine parsed;
        try {
            parsed = parse_line(line, d.categories_, !precomputed);
        } catch (const std::invalid_argument& e) {
            ++malformed_count;
            if (malformed.size() < 10)
                malformed.push_back("line " + std::to_string(line_no) + ": " + e.what());
            continue;
        }
        if (malformed_count)
            continue; // keep scanning for further malformed lines, but build nothing more
        auto& pair = parsed.pair;
        pair.line = line_no;
        pair.chosen = split_dir / parsed.chosen_rel;
        pair.rejected = split_dir / parsed.rejected_rel;
        bool usable = true;
        for (const auto* p : {&pair.chosen, &pair.rejected}) {
            if (fs::is_regular_file(*p))
                continue;
            if (options.strict)
                throw IoError(path_message(meta_name, "line " + std::to_string(line_no) + ": image " + p->string() +
                                                          " does not exist (strict mode; without it the pair "
                                                          "would be skipped)"));
            if (missing.size() < 5)
                missing.push_back("line " + std::to_string(line_no) + ": " + p->string());
            usable = false;
            break;
        }
        if (!usable) {
            ++d.report_.skipped_missing;
            continue;
        }
        if (!d.users_.count(pair.user_id)) {
            PreferenceUser u;
            u.user_id = pair.user_id;
            u.profile = parsed.profile;
            if (precomputed)
                u.embedding = read_embedding(options.embeds_dir / (pair.user_id + ".npy"), pair.user_id, line_no);
            else
                u.embedding = StructuredProfileEncoder::encode(u.profile, d.categories_);
            const int dim = static_cast<int>(u.embedding.size());
            if (d.user_dim_ == 0)
                d.user_dim_ = dim;
            else if (dim != d.user_dim_)
                throw IoError(path_message((options.embeds_dir / (pair.user_id + ".npy")).string(),
                                           std::to_string(dim) + " values, but earlier users have " +
                                               std::to_string(d.user_dim_)));
            if (parsed.banned)
                d.report_.notes.push_back("user " + pair.user_id + ": bans from the data (" +
                                          std::to_string(parsed.banned->size()) + " categories)");
            d.user_order_.push_back(pair.user_id);
            d.users_.emplace(pair.user_id, std::move(u));
        }
        d.pairs_.push_back(std::move(pair));
    }
    if (malformed_count) {
        std::string msg = path_message(meta_name, std::to_string(malformed_count) + " malformed line" +
                                                      (malformed_count == 1 ? "" : "s"));
        for (const auto& m : malformed)
            msg += "\n  " + m;
        if (malformed_count > static_cast<int>(malformed.size()))
            msg += "\n  ... and " + std::to_string(malformed_count - static_cast<int>(malformed.size())) + " more";
        msg += "\n  hint: each line needs chosen, rejected, caption and user_data (User_ID, Age, Gender, "
               "Religion, Physical_Condition, Mental_Condition)";
        throw ConfigError(msg);
    }
    for (const auto& m : missing)
        d.report_.notes.push_back("skipped, image missing: " + m);
    d.report_.pairs = static_cast<int>(d.pairs_.size());
    if (d.pairs_.empty())
        throw ConfigError(path_message(meta_name, "no usable preference pairs (" + std::to_string(d.report_.lines) +
                                                      " lines, " + std::to_string(d.report_.skipped_missing) +
                                                      " skipped for missing images)"));
    return d;
}

} // namespace psa
