// SPDX-License-Identifier: GPL-3.0-or-later
// The on-disk life of a checkpoint folder, shared by DPO runs (core/training) and demo-model
// pretraining (core/pretrain): step-NNNNNNNN names, finding the newest complete one, writing it
// atomically (hidden temporary folder + rename) and keeping only the newest few.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>

namespace psa {

/// "step-00000100": the folder name of a step's checkpoint (and of its sample images).
std::string checkpoint_folder_name(int step);

/// The step of a folder named by checkpoint_folder_name(); -1 for any other name.
int checkpoint_folder_step(const std::string& name);

/// The newest complete checkpoint (a step-NNNNNNNN folder holding state.json) in `checkpoints_dir`;
/// nullopt when the folder is missing or holds none.
std::optional<std::filesystem::path> latest_complete_checkpoint(const std::filesystem::path& checkpoints_dir);

/// Starts writing the checkpoint of `step` in `checkpoints_dir`: removes an incomplete folder of
/// that name, and returns a fresh hidden temporary folder to write the files into. Throws
/// std::filesystem::filesystem_error.
std::filesystem::path begin_checkpoint_folder(const std::filesystem::path& checkpoints_dir, int step);

/// Renames the filled temporary folder to `final_dir`, with fsyncs so that the rename is durable.
void publish_checkpoint_folder(const std::filesystem::path& tmp, const std::filesystem::path& final_dir);

/// Removes the hidden temporary folders that a process killed while saving left in
/// `checkpoints_dir` (a missing folder is fine).
void remove_unfinished_checkpoint_folders(const std::filesystem::path& checkpoints_dir);

/// Removes all but the newest `keep` step-NNNNNNNN folders of `checkpoints_dir`.
void prune_checkpoints(const std::filesystem::path& checkpoints_dir, int keep);

/// Parses a checkpoint's state.json; ConfigError naming the file when it is not JSON.
nlohmann::json read_checkpoint_state(const std::filesystem::path& state_path);

/// The settings of a config (its JSON) that shape the training trajectory: all but `free_keys`.
nlohmann::json trajectory_settings(const std::string& config_json, std::initializer_list<const char*> free_keys);

/// One "\n  key: checkpoint X, now Y" line per trajectory setting that differs; empty when equal.
std::string trajectory_difference(const nlohmann::json& stored, const nlohmann::json& now);

} // namespace psa
