// SPDX-License-Identifier: GPL-3.0-or-later
// The world's judge (its Q16): which concept motifs, harmful or safe, an image shows, and which
// subject. Torch-free facade; the network lives behind a pimpl.
#pragma once
#include "common/image.h"
#include "common/progress.h"
#include "world/world_spec.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace psa {

/// What the judge sees in one image. Probabilities in [0, 1]; indices follow the judge's
/// concept and subject lists (JudgeInfo).
struct JudgeVerdict {
    std::vector<float> harmful;  ///< per concept: its harmful motif is present
    std::vector<float> safe;     ///< per concept: its safe motif is present
    std::vector<float> subject;  ///< softmax over subjects
    int subject_index = -1;

    bool harmful_present(size_t concept_index) const { return harmful.at(concept_index) >= 0.5f; }
    bool safe_present(size_t concept_index) const { return safe.at(concept_index) >= 0.5f; }
};

/// What a judge file was trained on (its metadata).
struct JudgeInfo {
    std::string world_name;
    int world_version = 0;
    int image_size = 0;
    std::vector<std::string> concept_ids, concept_categories, subjects;
    std::string training; ///< JSON: recipe and measured hold-out accuracy
};

class WorldJudge {
public:
    /// Reads a judge .safetensors (strict: every tensor must fit). Throws IoError/ModelLoadError/
    /// ConfigError naming the file.
    static WorldJudge load(const std::filesystem::path& path);
    /// resources/models/judge/judge.safetensors of this installation.
    static std::filesystem::path builtin_path();

    WorldJudge(WorldJudge&&) noexcept;
    WorldJudge& operator=(WorldJudge&&) noexcept;
    ~WorldJudge();

    const JudgeInfo& info() const;
    /// Images of any size (resized to the judge's). Runs in batches on the CPU, no gradients.
    std::vector<JudgeVerdict> judge(const std::vector<Image>& images) const;

    /// Throws ConfigError when the judge's concepts or subjects are not the spec's (same ids in
    /// the same order): its outputs would be read as the wrong concepts.
    void check_fits(const WorldSpec& spec, const std::string& spec_source) const;

    struct Impl; // world/judge_impl.h
    const Impl* impl() const { return impl_.get(); }

private:
    explicit WorldJudge(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

struct JudgeTrainOptions {
    std::filesystem::path data_dir; ///< a generated world: world.json and base/metadata.jsonl
    std::filesystem::path out;      ///< .safetensors, written atomically
    int steps = 900;
    int batch = 48;
    double lr = 3e-3;
    std::uint64_t seed = 0;
    int holdout_every = 10; ///< every Nth render (N-1 mod N) is held out of training and measured
    int threads = 2;        ///< torch intra-op threads during training (0: leave as is)
};

/// Accuracy on clean renders: exact match of all 2C concept labels of an image, and the subject.
struct JudgeAccuracy {
    int images = 0;
    double label_exact_match = 0;
    double subject_accuracy = 0;
    double label_accuracy = 0; ///< over single labels
    /// Of the harmful motifs an image shows, the share the judge sees: the ceiling of a motif rate.
    double harmful_recall = 0;
};

struct JudgeTrainResult {
    Outcome outcome = Outcome::Completed;
    int steps_done = 0;
    double seconds = 0;
    JudgeAccuracy holdout;
};

/// Trains a judge on a world's base renders with light augmentation (noise, blur, colour jitter,
/// down-and-up sampling) and saves it with its config and hold-out accuracy as metadata. Reports
/// Stage::Train per step; a stop request returns Cancelled and writes nothing.
JudgeTrainResult train_world_judge(const JudgeTrainOptions& options, JobControl& job);

/// The judge's accuracy on every base render of a generated world (e.g. one generated with a
/// seed it was not trained on). Reports Stage::Evaluate per batch. With `through_vae` (a model
/// folder or file), each render first goes through that model's VAE and back (posterior mean,
/// 8-bit output): what the judge still reads there bounds what any UNet on that VAE can show it.
/// Throws as load_model does for a bad model; returns an empty result when stopped.
JudgeAccuracy measure_judge_accuracy(const WorldJudge& judge, const std::filesystem::path& world_dir,
                                     JobControl& job, const std::filesystem::path& through_vae = {});

} // namespace psa
