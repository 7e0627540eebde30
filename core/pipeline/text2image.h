// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "pipeline/generation.h"
#include "pipeline/model_loading.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace psa {

/// Text-to-image with classifier-free guidance over a loaded model (torch-free facade; pimpl).
/// One generate() at a time per instance; call from a worker thread.
class Text2Image {
public:
    explicit Text2Image(std::shared_ptr<ModelComponents> model);
    ~Text2Image();
    Text2Image(const Text2Image&) = delete;
    Text2Image& operator=(const Text2Image&) = delete;

    /// Validates the request (InvalidRequest naming the field), encodes the prompts, denoises
    /// (checking the stop token once per step) and decodes. Cancellation returns
    /// Outcome::Cancelled with no images.
    GenerationResult generate(const GenerationRequest& request, JobControl& job);

    const ModelComponents& model() const;

    /// Loads a PSA safety adapter for this model, replacing any; ModelLoadError when it does not
    /// fit the UNet. Generation conditions other than level 0 need one.
    void load_adapter(const std::filesystem::path& path);
    void clear_adapter();
    bool has_adapter() const;
    std::string adapter_name() const;
    /// The categories the adapter's profile encoder knows (the built-in set without an adapter).
    std::vector<std::string> adapter_categories() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace psa
