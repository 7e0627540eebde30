// SPDX-License-Identifier: GPL-3.0-or-later
// A checkpoint becomes visible only by the final rename, so a process killed while writing leaves
// the earlier checkpoints as they were; the newest one holding state.json is the one to resume.
#include "training/checkpoint_folder.h"

#include "common/atomic_file.h"
#include "common/error.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <sstream>
#include <utility>
#include <vector>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Makes a rename durable: fsync the folder that holds the entry.
void sync_folder(const fs::path& dir)
{
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return;
    ::fsync(fd);
    ::close(fd);
}

} // namespace

std::string checkpoint_folder_name(int step)
{
    std::ostringstream s;
    s << "step-" << std::setw(8) << std::setfill('0') << step;
    return s.str();
}

int checkpoint_folder_step(const std::string& name)
{
    if (name.rfind("step-", 0) != 0 || name.size() <= 5)
        return -1;
    const auto digits = name.substr(5);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return -1;
    return std::stoi(digits);
}

std::optional<fs::path> latest_complete_checkpoint(const fs::path& checkpoints_dir)
{
    std::error_code ec;
    if (!fs::is_directory(checkpoints_dir, ec))
        return std::nullopt;
    int best = -1;
    fs::path best_path;
    for (const auto& e : fs::directory_iterator(checkpoints_dir)) {
        const int s = checkpoint_folder_step(e.path().filename().string());
        if (s > best && fs::is_regular_file(e.path() / "state.json")) {
            best = s;
            best_path = e.path();
        }
    }
    if (best < 0)
        return std::nullopt;
    return best_path;
}

fs::path begin_checkpoint_folder(const fs::path& checkpoints_dir, int step)
{
    fs::remove_all(checkpoints_dir / checkpoint_folder_name(step)); // an incomplete folder (never made by us)
    fs::create_directories(checkpoints_dir);
    const auto tmp =
        checkpoints_dir / (".tmp-" + checkpoint_folder_name(step) + "-" + std::to_string(::getpid()));
    fs::remove_all(tmp);
    fs::create_directory(tmp);
    return tmp;
}

void publish_checkpoint_folder(const fs::path& tmp, const fs::path& final_dir)
{
    sync_folder(tmp);
    fs::rename(tmp, final_dir);
    sync_folder(final_dir.parent_path());
}

void remove_unfinished_checkpoint_folders(const fs::path& checkpoints_dir)
{
    if (!fs::is_directory(checkpoints_dir))
        return;
    for (const auto& e : fs::directory_iterator(checkpoints_dir))
        if (e.path().filename().string().rfind(".tmp-", 0) == 0)
            fs::remove_all(e.path());
}

void prune_checkpoints(const fs::path& checkpoints_dir, int keep)
{
    std::vector<std::pair<int, fs::path>> all;
    for (const auto& e : fs::directory_iterator(checkpoints_dir))
        if (const int s = checkpoint_folder_step(e.path().filename().string()); s >= 0)
            all.emplace_back(s, e.path());
    std::sort(all.begin(), all.end());
    for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i)
        fs::remove_all(all[i].second);
}

json read_checkpoint_state(const fs::path& state_path)
{
    try {
        return json::parse(read_file_text(state_path));
    } catch (const json::parse_error& e) {
        throw ConfigError(path_message(state_path.string(), std::string("malformed JSON: ") + e.what()));
    }
}

json trajectory_settings(const std::string& config_json, std::initializer_list<const char*> free_keys)
{
    auto j = json::parse(config_json);
    for (const char* free : free_keys)
        j.erase(free);
    return j;
}

std::string trajectory_difference(const json& stored, const json& now)
{
    std::string diff;
    for (const auto& [key, value] : stored.items())
        if (!now.contains(key) || now[key] != value)
            diff += "\n  " + key + ": checkpoint " + value.dump() + ", now " +
                    (now.contains(key) ? now[key].dump() : "-");
    return diff;
}

} // namespace psa
