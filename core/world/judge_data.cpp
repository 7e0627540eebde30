// SPDX-License-Identifier: GPL-3.0-or-later
#include "world/judge_data.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "tensor_io/image_tensor.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <sstream>

namespace psa {

namespace fs = std::filesystem;

at::Tensor images_to_batch(const std::vector<Image>& images, int size)
{
    auto batch = torch::empty({static_cast<int64_t>(images.size()), 3, size, size});
    for (size_t i = 0; i < images.size(); ++i) {
        const auto& im = images[i];
        if (im.width == size && im.height == size) {
            batch[static_cast<int64_t>(i)] = image_to_tensor(im);
            continue;
        }
        cv::Mat src(im.height, im.width, CV_8UC3, const_cast<std::uint8_t*>(im.rgb.data()));
        cv::Mat dst;
        cv::resize(src, dst, cv::Size(size, size), 0, 0, im.width > size ? cv::INTER_AREA : cv::INTER_LINEAR);
        Image r;
        r.width = size;
        r.height = size;
        r.rgb.assign(dst.data, dst.data + static_cast<size_t>(size) * size * 3);
        batch[static_cast<int64_t>(i)] = image_to_tensor(r);
    }
    return batch;
}

LabelledRenders load_labelled_renders(const fs::path& world_dir, JobControl& job)
{
    LabelledRenders out;
    out.spec = load_world_spec(world_dir / "world.json", CategorySet::builtin());
    const auto& spec = out.spec;
    const fs::path meta = world_dir / "base" / "metadata.jsonl";
    const int C = static_cast<int>(spec.concepts.size());
    std::vector<fs::path> files;
    std::vector<float> labels;
    std::vector<int64_t> subjects;
    const int K = static_cast<int>(spec.slots.size());
    std::vector<int64_t> slot_classes;
    std::istringstream in(read_file_text(meta));
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        const auto where = [&](const std::string& problem) {
            return ConfigError(path_message(meta.string(), "line " + std::to_string(line_no) + ": " + problem));
        };
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
            std::vector<float> row(static_cast<size_t>(2 * C), 0.f);
            std::vector<int64_t> slots(static_cast<size_t>(K), 2 * C);
            const int subject = spec.subject_index(j.at("subject").get<std::string>());
            if (subject < 0)
                throw where("unknown subject \"" + j.at("subject").get<std::string>() + "\"");
            for (const auto& c : j.at("concepts")) {
                const std::string id = c.at("id").get<std::string>();
                const int k = spec.concept_index(id);
                if (k < 0)
                    throw where("unknown concept \"" + id + "\"");
                const int cls = c.at("harmful").get<bool>() ? k : C + k;
                row[static_cast<size_t>(cls)] = 1.f;
                const int slot = c.at("slot").get<int>();
                if (slot < 0 || slot >= K)
                    throw where("slot " + std::to_string(slot) + " is not one of the world's " + std::to_string(K));
                slots[static_cast<size_t>(slot)] = cls;
            }
            const std::string file = j.at("file_name").get<std::string>();
            files.push_back(world_dir / "base" / file);
            labels.insert(labels.end(), row.begin(), row.end());
            subjects.push_back(subject);
            slot_classes.insert(slot_classes.end(), slots.begin(), slots.end());
        } catch (const nlohmann::json::exception& e) {
            throw where(std::string("malformed line (") + e.what() + ")");
        }
    }
    if (files.empty())
        throw ConfigError(path_message(meta.string(), "no renders listed"));
    const int n = static_cast<int>(files.size());
    const int S = spec.image_size;
    out.images = torch::empty({n, 3, S, S});
    for (int i = 0; i < n; ++i) {
        if (job.stop_requested())
            return {};
        out.images[i] = images_to_batch({load_image(files[static_cast<size_t>(i)])}, S)[0];
        if ((i + 1) % 256 == 0 || i + 1 == n)
            job.report(Stage::Load, i + 1, n, "renders");
    }
    out.labels = torch::from_blob(labels.data(), {n, 2 * C}, torch::kFloat).clone();
    out.subjects = torch::from_blob(subjects.data(), {n}, torch::kLong).clone();
    out.slot_classes = torch::from_blob(slot_classes.data(), {n, K}, torch::kLong).clone();
    return out;
}

} // namespace psa
