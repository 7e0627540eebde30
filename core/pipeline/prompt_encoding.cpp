// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/prompt_encoding.h"

#include "common/error.h"
#include "pipeline/components.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

namespace psa {

at::Tensor encode_prompts(ModelComponents& model, const std::vector<std::string>& prompts,
                          int clip_skip, std::vector<std::string>* warnings)
{
    if (!model.tokenizer)
        throw InvalidRequest("model \"" + model.name + "\" has no tokenizer; prompts cannot be encoded");
    const int max_length = static_cast<int>(model.text_config.max_position_embeddings);
    std::vector<int64_t> ids;
    for (size_t i = 0; i < prompts.size(); ++i) {
        const auto enc = model.tokenizer->encode_padded(prompts[i], max_length);
        if (enc.truncated) {
            const std::string w = "prompt " + std::to_string(i + 1) + " is " +
                                  std::to_string(enc.num_tokens_untruncated) + " tokens; only the first " +
                                  std::to_string(max_length) + " (with start and end) are used";
            spdlog::warn("{}", w);
            if (warnings)
                warnings->push_back(w);
        }
        ids.insert(ids.end(), enc.input_ids.begin(), enc.input_ids.end());
    }
    const auto input_ids = torch::tensor(ids, torch::kLong)
                               .reshape({static_cast<int64_t>(prompts.size()), max_length})
                               .to(model.device);
    return model.text_encoder->encode(input_ids, clip_skip).to(model.dtype);
}

} // namespace psa
