// SPDX-License-Identifier: GPL-3.0-or-later
#include "pretrain/caption_image_set.h"

#include "common/error.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

fs::path find_metadata(const fs::path& data)
{
    std::error_code ec;
    if (fs::is_regular_file(data, ec))
        return data;
    for (const auto& candidate : {data / "base" / "metadata.jsonl", data / "metadata.jsonl"})
        if (fs::is_regular_file(candidate, ec))
            return candidate;
    if (!fs::exists(data, ec))
        throw IoError(path_message(data.string(), "no such file or folder"));
    throw IoError(path_message(data.string(), "no metadata.jsonl here or in base/ (expected a world folder "
                                              "from `psa world generate` or an imagefolder with metadata.jsonl)"));
}

std::string string_field(const json& j, const char* key, const std::string& where)
{
    const auto it = j.find(key);
    if (it == j.end() || it->is_null())
        throw IoError(where + ": missing \"" + key + "\"");
    if (!it->is_string())
        throw IoError(where + ": \"" + key + "\" must be a string, got " + it->type_name());
    return it->get<std::string>();
}

std::vector<UnitBox> focus_boxes(const json& j, const std::string& where)
{
    std::vector<UnitBox> boxes;
    const auto it = j.find("focus_boxes");
    if (it == j.end() || it->is_null())
        return boxes;
    if (!it->is_array())
        throw IoError(where + ": \"focus_boxes\" must be an array of [x0, y0, x1, y1], got " + it->type_name());
    for (size_t i = 0; i < it->size(); ++i) {
        const auto& b = (*it)[i];
        const std::string which = where + ": focus_boxes[" + std::to_string(i) + "]";
        if (!b.is_array() || b.size() != 4)
            throw IoError(which + " must be four numbers [x0, y0, x1, y1]");
        for (const auto& v : b)
            if (!v.is_number())
                throw IoError(which + " must be four numbers [x0, y0, x1, y1], got a " + v.type_name());
        const UnitBox box{b[0].get<double>(), b[1].get<double>(), b[2].get<double>(), b[3].get<double>()};
        if (!(0 <= box.x0 && box.x0 < box.x1 && box.x1 <= 1 && 0 <= box.y0 && box.y0 < box.y1 && box.y1 <= 1))
            throw IoError(which + " is not a box inside the unit square (need 0 <= x0 < x1 <= 1 and "
                                  "0 <= y0 < y1 <= 1)");
        boxes.push_back(box);
    }
    return boxes;
}

} // namespace

CaptionImageSet CaptionImageSet::load(const fs::path& data)
{
    CaptionImageSet set;
    set.metadata_ = find_metadata(data);
    const fs::path folder = set.metadata_.parent_path();
    std::ifstream in(set.metadata_, std::ios::binary);
    if (!in)
        throw IoError(path_message(set.metadata_.string(), "cannot open for reading"));
    int line_number = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_number;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos)
            continue;
        const std::string where = set.metadata_.string() + ":" + std::to_string(line_number);
        json j;
        try {
            j = json::parse(line);
        } catch (const json::parse_error& e) {
            throw IoError(where + ": invalid JSON: " + e.what());
        }
        if (!j.is_object())
            throw IoError(where + ": expected a JSON object, got " + std::string(j.type_name()));
        const std::string file_name = string_field(j, "file_name", where);
        if (file_name.empty())
            throw IoError(where + ": \"file_name\" is empty");
        CaptionedImage item;
        item.caption = string_field(j, "caption", where);
        item.line = line_number;
        item.focus_boxes = focus_boxes(j, where);
        const fs::path rel(file_name);
        if (rel.is_absolute())
            throw IoError(where + ": \"file_name\" " + file_name + " must be relative to " + folder.string());
        std::error_code ec;
        item.image = (folder / rel).lexically_normal();
        if (!fs::is_regular_file(item.image, ec)) {
            const fs::path above = (folder.parent_path() / rel).lexically_normal();
            if (!fs::is_regular_file(above, ec))
                throw IoError(where + ": image " + file_name + " not found (looked for " + item.image.string() +
                              " and " + above.string() + ")");
            item.image = above;
        }
        set.items_.push_back(std::move(item));
    }
    if (set.items_.empty())
        throw IoError(path_message(set.metadata_.string(), "no images: the file has no metadata lines (" +
                                                               std::to_string(line_number) + " blank lines)"));
    return set;
}

bool CaptionImageSet::has_focus_boxes() const
{
    for (const auto& item : items_)
        if (!item.focus_boxes.empty())
            return true;
    return false;
}

std::vector<std::string> CaptionImageSet::captions() const
{
    std::vector<std::string> out;
    out.reserve(items_.size());
    for (const auto& item : items_)
        out.push_back(item.caption);
    return out;
}

} // namespace psa
